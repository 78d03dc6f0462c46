"""The send job: deliver one outbox row through SMTP, exactly once.

1. Claim the row with one conditional UPDATE (QUEUED and due, or SENDING with an expired
   lease -> SENDING, attempts+1, lease). Only one runner can win; the others return.
2. Build the message and send it with the current SMTP settings.
3. Finish with an UPDATE fenced by the claimed attempt number, so a runner whose lease was
   taken over can never overwrite the newer outcome. SENT is final.
Temporary failures (4xx, connection errors, timeouts) go back to QUEUED with backoff and,
under arq, `Retry(defer=...)`; permanent ones (5xx, auth rejected, bad recipient) -> FAILED.

Usable without arq: `await send_outbound({}, outbound_id)` sends or reschedules and returns a
short outcome string; `sweep_outbound()` finds rows to run again later.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from functools import partial
from typing import Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from ..events import publish_ticket_event
from ..models.attachment import Attachment
from ..models.delivery_attempt import DeliveryAttempt
from ..models.outbound_email import DeliveryStatus, OutboundEmail
from ..models.smtp_settings import SmtpSettings
from ..models.ticket import Ticket
from ..ops import metrics
from ..ops.logs import log_context
from ..outbound import outbox
from ..outbound.compose import InvalidAddress, build_message, validated_address
from ..outbound.outbox import due_filter
from ..storage.attachments import default_policy, policy_for, read_bytes
from ..storage.blobs import BlobError
from ..transport.smtp import (
    SmtpError,
    SmtpErrorCode,
    classify_smtp_error,
    config_from_settings,
    send_message,
)

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "RETRY_BASE_S",
    "requeue_outbound",
    "retry_delay",
    "send_job_id",
    "send_outbound",
]

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)   # longer than any SMTP conversation (timeouts are 30 s)
MAX_ATTEMPTS = 8                  # 30 s, 1, 2, 4, 8, 16, 32 min: about an hour of retrying
RETRY_BASE_S = 30.0
RETRY_CAP_S = 3600.0


def retry_delay(attempts: int, base_s: float = RETRY_BASE_S) -> float:
    """Seconds to wait after the `attempts`-th failed try: exponential, capped."""
    return float(min(base_s * 2 ** max(attempts - 1, 0), RETRY_CAP_S))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _claim(outbound_id: int, now: dt.datetime) -> int | None:
    won = await OutboundEmail.filter(Q(id=outbound_id) & due_filter(now)).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + LEASE,
        updated_at=now)
    if not won:
        return None
    row = await OutboundEmail.get(id=outbound_id).only("attempts")
    return int(row.attempts)


async def _finish(outbound_id: int, attempt: int, **values: Any) -> bool:
    """End the claimed attempt (fenced by its number) and add it to the history."""
    async with in_transaction() as conn:
        done = await OutboundEmail.filter(
            id=outbound_id, status=DeliveryStatus.SENDING, attempts=attempt).using_db(
            conn).update(updated_at=_now(), **values)
        if done:
            await DeliveryAttempt.create(
                using_db=conn, outbound_email_id=outbound_id, number=attempt,
                status=values["status"], error=values.get("last_error"))
    if not done:
        logger.warning("outbound %s: lease lost before finishing attempt %s", outbound_id, attempt)
    return bool(done)


async def _files(ctx: dict[str, Any], row: OutboundEmail) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of the files the agent sent with the comment."""
    if row.comment_id is None:  # type: ignore[attr-defined]
        return []
    rows = await Attachment.filter(comment_id=row.comment_id,  # type: ignore[attr-defined]
                                   storage_key__isnull=False).order_by("id")
    if not rows:
        return []
    settings = ctx.get("settings")
    policy = policy_for(settings) if settings is not None else default_policy()
    try:
        return [(a.filename, a.content_type, await read_bytes(a, policy)) for a in rows]
    except BlobError as exc:  # an operator can restore the blob; keep the mail until then
        raise SmtpError(SmtpErrorCode.UNKNOWN, f"An attachment of the comment cannot be read: "
                        f"{exc}", temporary=True) from exc


async def _not_claimed(ctx: dict[str, Any], outbound_id: int, now: dt.datetime) -> str:
    row = await OutboundEmail.get_or_none(id=outbound_id)
    if row is None:
        return "missing"
    if row.status == DeliveryStatus.SENT:
        return "already-sent"
    if row.status in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        return "failed"
    if row.status == DeliveryStatus.QUEUED and row.next_attempt_at is not None:
        _retry_under_arq(ctx, (row.next_attempt_at - now).total_seconds())
        return "not-due"
    return "in-progress"


def _retry_under_arq(ctx: dict[str, Any], delay_s: float) -> None:
    # arq puts `job_try` in ctx; plain callers (tests, the in-process runner) get a return value
    # and rely on next_attempt_at + sweep_outbound instead.
    if ctx.get("job_try") is not None:
        from arq import Retry

        raise Retry(defer=dt.timedelta(seconds=max(delay_s, 0.0)))


async def _deliver(ctx: dict[str, Any], row: OutboundEmail) -> None:
    settings = await SmtpSettings.all().order_by("id").first()
    if settings is None:
        raise SmtpError(SmtpErrorCode.NOT_CONFIGURED,
                        "Outgoing mail is not configured: set the SMTP settings.", temporary=True)
    config = config_from_settings(settings, cafile=ctx.get("smtp_cafile"))
    try:
        validated_address(config.sender_address)
    except InvalidAddress as exc:
        # The admin can fix the settings; keep the mail until then.
        raise SmtpError(SmtpErrorCode.SENDER_REFUSED,
                        f"The sender address in the SMTP settings is not usable: {exc}",
                        temporary=True) from exc
    files = await _files(ctx, row)
    build = partial(
        build_message,
        sender_address=config.sender_address, sender_name=config.sender_name,
        recipients=list(row.recipients), subject=row.subject, text_body=row.text_body,
        html_body=row.html_body, message_id=row.message_id, in_reply_to=row.in_reply_to,
        references=list(row.references), attachments=files)
    try:
        # Encoding megabytes of attachments is CPU work: off the event loop.
        message = await asyncio.to_thread(build) if files else build()
    except InvalidAddress as exc:
        raise SmtpError(SmtpErrorCode.RECIPIENT_REFUSED, str(exc), temporary=False) from exc
    # The runner's open connections (none when called directly: a connection per send).
    result = await send_message(config, message, connections=ctx.get("smtp_connections"))
    if result.refused:
        logger.warning("outbound %s: some recipients refused: %s", row.id, result.refused)


async def send_outbound(ctx: dict[str, Any], outbound_id: int) -> str:
    """Send one queued email (job `send_outbound`, enqueue with `_job_id=f"send:{id}"`).

    Returns "sent", "retry", "failed", or why nothing was done ("already-sent", "not-due",
    "in-progress", "missing"). Under arq a temporary failure raises `arq.Retry`.
    """
    now = _now()
    attempt = await _claim(outbound_id, now)
    if attempt is None:
        return await _not_claimed(ctx, outbound_id, now)
    row = await OutboundEmail.get(id=outbound_id)
    number = await Ticket.filter(id=row.ticket_id).first().values_list(  # type: ignore[attr-defined]
        "number", flat=True)
    with log_context(ticket=number):
        return await _send_claimed(ctx, row, attempt)


async def _send_claimed(ctx: dict[str, Any], row: OutboundEmail, attempt: int) -> str:
    outbound_id = row.id
    try:
        await _deliver(ctx, row)
    except Exception as exc:
        error = classify_smtp_error(exc)
        if error.code == SmtpErrorCode.UNKNOWN:
            logger.warning("outbound %s: unexpected error", outbound_id, exc_info=True)
        return await _record_failure(ctx, row, attempt, error)
    if await _finish(outbound_id, attempt, status=DeliveryStatus.SENT, sent_at=_now(),
                     last_error=None, next_attempt_at=None):
        logger.info("outbound %s sent (attempt %s)", outbound_id, attempt)
        metrics.COMMENT_EMAILS.labels("sent").inc()
        metrics.SEND_SECONDS.observe(max((_now() - row.created_at).total_seconds(), 0.0))
        await publish_ticket_event("comment_email_sent", row.ticket_id,  # type: ignore[attr-defined]
                                   comment_id=row.comment_id, outbound_id=row.id)  # type: ignore[attr-defined]
    return "sent"


async def _record_failure(ctx: dict[str, Any], row: OutboundEmail, attempt: int,
                          error: SmtpError) -> str:
    # A resent email gets MAX_ATTEMPTS tries of its own.
    if error.temporary and attempt - row.resent_at_attempt < MAX_ATTEMPTS:
        delay = retry_delay(attempt, float(ctx.get("send_retry_base_s", RETRY_BASE_S)))
        await _finish(row.id, attempt, status=DeliveryStatus.QUEUED, last_error=error.message,
                      next_attempt_at=_now() + dt.timedelta(seconds=delay))
        logger.info("outbound %s: temporary failure (%s), retry in %.0f s",
                    row.id, error.code.value, delay)
        metrics.COMMENT_EMAILS.labels("retry").inc()
        _retry_under_arq(ctx, delay)
        return "retry"
    reason = error.message if not error.temporary else (
        f"Gave up after {attempt - row.resent_at_attempt} attempts. "
        f"Last error: {error.message}")
    await _finish(row.id, attempt, status=DeliveryStatus.FAILED, last_error=reason,
                  next_attempt_at=None)
    logger.warning("outbound %s failed permanently: %s", row.id, error.code.value)
    metrics.COMMENT_EMAILS.labels("failed").inc()
    await publish_ticket_event("comment_email_failed", row.ticket_id,  # type: ignore[attr-defined]
                               comment_id=row.comment_id, outbound_id=row.id,  # type: ignore[attr-defined]
                               reason=reason)
    return "failed"


def send_job_id(outbound_id: int, resent_at_attempt: int = 0) -> str:
    """The job id that makes "send this row" a single queued job. A resend gets its own
    (arq keeps a finished job's id for an hour and would ignore the same one)."""
    if resent_at_attempt:
        return f"send:{outbound_id}:resend:{resent_at_attempt}"
    return f"send:{outbound_id}"


async def requeue_outbound() -> int:
    """Periodic sweep: enqueue `send_outbound` for every row that is due; returns how many.

    Covers rows whose job was lost (Redis flushed, process died, arq gave up after its
    max_tries) — the row, not the queue, is the record. Double enqueues are harmless: the
    job id dedupes in the queue and the claim dedupes in the database.
    """
    from .queue import get_queue

    queue = get_queue()
    count = 0
    for outbound_id in await outbox.sweep_outbound():
        if await queue.enqueue("send_outbound", outbound_id, job_id=send_job_id(outbound_id)):
            count += 1
    return count


# The scheduler tick (workers/cron.py) imports this name and counts what it requeued.
# `outbound.outbox.sweep_outbound()` is the query alone (a list of ids).
sweep_outbound = requeue_outbound
