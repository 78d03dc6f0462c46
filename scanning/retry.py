"""Re-run a quarantined message from its kept raw bytes (after a rule or code fix)."""

from __future__ import annotations

import logging
from dataclasses import replace

from tortoise.transactions import in_transaction

from .. import events
from ..models import FolderState, MessageLog, MessageOutcome, Scanner, TicketStatus
from ..settings import Settings, load_settings
from ..transport.errors import MailError
from ..transport.imap import FetchedMessage
from .batch_prepare import FetchBatch, prepare_batch
from .budget import TIMEOUT
from .connect import open_session
from .context import ScanConfig
from .effects import PendingEffects, apply_effects
from .pipeline import scan_config
from .process import LoadedRule, Processed, load_rules, process_message

__all__ = ["RetryError", "retry_message"]

logger = logging.getLogger(__name__)


class RetryError(ValueError):
    """The log row cannot be retried (not quarantined, or its raw message is gone)."""


async def _history(scanner: Scanner, log: MessageLog) -> TicketStatus | None:
    """The import status when the message is history (below its folder's start)."""
    if scanner.import_history_as is None:
        return None
    state = await FolderState.filter(
        scanner_id=scanner.id, folder=log.folder, uidvalidity=log.uidvalidity
    ).first()
    return scanner.import_history_as if state and int(log.uid) < state.start_uid else None


async def _still_too_slow(config: ScanConfig, rules: list[LoadedRule], log: MessageLog,
                          raw: bytes) -> bool:
    """Read the message again within its budget, in a parse process (budget.py), before
    processing it here: a message that was too slow to read must not be read on the
    event loop of the API that asked for the retry. True (and `log.reason` updated) when
    it is still past its budget."""
    if config.message_budget_s <= 0:
        return False
    message = FetchedMessage(int(log.uid), raw, (), log.server_message_id)
    batch = FetchBatch(config, rules, log.folder, int(log.uidvalidity), [message],
                       log.scan_run_id, set())  # type: ignore[attr-defined]
    prepared = await prepare_batch(batch)
    item = prepared[0] if prepared else None
    if isinstance(item, Processed) and str(item.fields.get("reason", "")).startswith(TIMEOUT):
        log.reason = item.fields["reason"]
        return True
    return False


async def retry_message(
    log_id: int, *, settings: Settings | None = None, apply_side_effects: bool = True
) -> MessageLog:
    """Process a quarantined message again; returns its updated log row.

    The database part runs now. Its IMAP side effects (\\Seen, move, delete) are applied at
    once when the mailbox is reachable and the message still has the same UID; otherwise
    (or with `apply_side_effects=False`, as the API does: no IMAP inside a request) they
    stay pending and the scanner's next scan applies them.
    """
    log = await MessageLog.get_or_none(id=log_id)
    if log is None:
        raise RetryError(f"message log {log_id} does not exist")
    if log.outcome != MessageOutcome.QUARANTINED or not log.raw_message:
        raise RetryError("only quarantined messages with their raw content kept can be retried")
    scanner = await Scanner.get(id=log.scanner_id)  # type: ignore[attr-defined]
    config = replace(await scan_config(scanner, settings or load_settings()), cache=None)
    rules = await load_rules(scanner)
    raw = bytes(log.raw_message)
    if await _still_too_slow(config, rules, log, raw):
        await log.save(update_fields=["reason"])
        return log
    result = await process_message(
        config,
        rules,
        log.folder,
        int(log.uidvalidity),
        int(log.uid),
        raw,
        run_id=log.scan_run_id,  # type: ignore[attr-defined]
        existing=log,
        history=await _history(scanner, log),
    )
    if not result.saved:
        async with in_transaction() as conn:
            await result.model().save(using_db=conn)
    for kind, ticket_id, extra in result.events:
        await events.publish_ticket_event(kind, ticket_id, **extra)
    log = result.model()
    if apply_side_effects and result.effects and log.outcome != MessageOutcome.QUARANTINED:
        try:
            async with await open_session(scanner) as session:
                status = await session.select(log.folder)
                if status.uidvalidity == log.uidvalidity:
                    await apply_effects(
                        session,
                        scanner.id,
                        log.folder,
                        int(log.uidvalidity),
                        [PendingEffects(int(log.uid), result.effects)],
                    )
        except MailError as exc:
            logger.info("retry of log %s: side effects left for the next scan (%s)", log_id, exc)
        await log.refresh_from_db()
    return log
