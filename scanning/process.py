"""One message: parse, classify, match rules, run actions, write its log row.

Mail that needs no database writes besides its log row (no rule matched, skipped,
quarantined) comes back with an unsaved row for the pipeline to insert in bulk with its
batch; everything else commits in its own transaction here, log row included, so a message
is either fully processed or not at all.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from .. import rules_dsl
from ..mail.parsing import ParsedEmail, parse_email
from ..models import (
    DeliveryAttempt,
    DeliveryStatus,
    MessageLog,
    MessageOutcome,
    Rule,
    Scanner,
    SideEffects,
    TicketStatus,
)
from ..outbound.threading import is_our_message_id
from .actions.registry import ActionConfigError, run_action, validate_action
from .bounces import NOT_OURS, bounce_error, bounced_email, delayed
from .context import Effect, MessageContext, ScanConfig
from .duplicates import dedupe_key, duplicate_fields, skip_counts
from .transient import LoggedElsewhere, is_transient

__all__ = [
    "LoadedRule",
    "Prepared",
    "Processed",
    "Unlogged",
    "act_prepared",
    "acted_row",
    "examine_message",
    "load_rules",
    "prepare_message",
    "process_message",
]

logger = logging.getLogger(__name__)
DEFAULT_FOLDER = "INBOX"
_NOWHERE: Mapping[str, str] = MappingProxyType({})


@dataclass
class LoadedRule:
    """An active rule ready to evaluate; a broken rule keeps its error for the log."""

    model: Rule
    folders: tuple[str, ...]
    compiled: rules_dsl.CompiledRule | None
    actions: list[dict[str, Any]]
    error: str | None = None


async def load_rules(scanner: Scanner, ids: Collection[int] | None = None) -> list[LoadedRule]:
    """The scanner's active rules in order, compiled, their action configs validated
    (`ids`: these rules of the scanner instead, active or not, as a dry run tries them)."""
    query = Rule.filter(scanner_id=scanner.id)
    query = query.filter(active=True) if ids is None else query.filter(id__in=list(ids))
    loaded = []
    for rule in await query.order_by("sequence", "id"):
        folders = tuple(f for f in (rule.folders or []) if isinstance(f, str)) or (DEFAULT_FOLDER,)
        compiled: rules_dsl.CompiledRule | None = None
        try:
            compiled = rules_dsl.compile(rule.condition)
            actions = [validate_action(a) for a in (rule.actions or [])]
        except (rules_dsl.RuleError, ActionConfigError) as exc:
            # Mail the rule would handle is quarantined with this reason (a broken condition
            # catches all mail of its folders), so nothing slips through while it is broken.
            logger.warning("rule %s (%s) is invalid: %s", rule.id, rule.name, exc)
            loaded.append(
                LoadedRule(rule, folders, compiled, [], f"rule {rule.name!r} is invalid: {exc}")
            )
            continue
        loaded.append(LoadedRule(rule, folders, compiled, actions))
    return loaded


@dataclass
class Processed:
    """The result of one message. Its log row is `log` (a model row: saved, or an earlier
    row to update) or, for a new row not written yet (`saved` false), only its `fields`,
    which the pipeline inserts in bulk with the batch (`model()` makes the model row)."""

    uid: int
    log: MessageLog | None
    saved: bool
    effects: list[Effect] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)

    def model(self) -> MessageLog:
        if self.log is None:
            self.log = MessageLog(**self.fields)
        return self.log


def _unusable(email: ParsedEmail) -> bool:
    return (
        email.from_ is None
        and not email.subject
        and not email.message_id
        and not email.text_body.strip()
        and not email.attachments
    )


def automated_reason(email: ParsedEmail, config: ScanConfig) -> str | None:
    """Why this mail must never become a ticket, or None for a person's mail."""
    sender = (email.from_.address if email.from_ else "").strip().casefold()
    if config.sender_address and sender == config.sender_address.strip().casefold():
        return "sent by this helpdesk (our sender address)"
    if email.message_id and is_our_message_id(email.message_id, config.message_id_domain):
        return "sent by this helpdesk (our Message-ID)"
    if email.kind == "auto_reply":
        return f"auto-reply: {email.kind_reason}"
    if email.kind == "bounce":
        return f"bounce: {email.kind_reason}"
    if email.kind == "delivery_report":  # a success notice: never a ticket, fails nothing
        return f"delivery report: {email.kind_reason}"
    if email.kind == "feedback":
        return f"feedback report: {email.kind_reason}"
    return None


def _row(
    config: ScanConfig,
    email: ParsedEmail | None,
    folder: str,
    uidvalidity: int,
    uid: int,
    run_id: int | None,
    server_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return dict(
        scanner_id=config.scanner.id,
        scan_run_id=run_id,
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        server_message_id=server_id,
        message_id=email.message_id[:998] if email and email.message_id else None,
        subject=(email.subject if email else "")[:998],
        sender=(email.from_.address if email and email.from_ else "")[:320],
        **extra,
    )


async def _handle_bounce(ctx: MessageContext) -> dict[str, Any] | None:
    """A bounce marks the comment email it answers as bounced (never a ticket, never a
    reply)."""
    info = ctx.email.bounce
    if info is None or not info.original_message_id:
        return None
    sent = await bounced_email(info, ctx.conn)
    if sent is None:
        return {"type": "bounce", "outcome": "skipped", "detail": NOT_OURS}
    if info.delayed:
        # A delay warning: the remote MTA keeps trying, so the email has not failed.
        return {"type": "bounce", "outcome": "skipped", "detail": delayed(sent)}
    sent.status = DeliveryStatus.BOUNCED
    sent.last_error = bounce_error(info)
    await sent.save(using_db=ctx.conn, update_fields=["status", "last_error", "updated_at"])
    await DeliveryAttempt.create(  # the history shows the bounce after the accepted send
        using_db=ctx.conn, outbound_email_id=sent.id, number=sent.attempts,
        status=DeliveryStatus.BOUNCED, error=sent.last_error)
    ctx.events.append(
        (
            "comment_email_failed",
            sent.ticket_id,  # type: ignore[attr-defined]
            {"outbound_email_id": sent.id, "error": sent.last_error},
        )
    )
    return {
        "type": "bounce",
        "outcome": "done",
        "detail": f"outbound email {sent.id} marked bounced",
    }


def _matching(rules: list[LoadedRule], email: ParsedEmail, folder: str) -> list[LoadedRule]:
    values = rules_dsl.extract(email)
    matched = []
    for rule in rules:
        if folder not in rule.folders:
            continue
        if rule.compiled is None or rule.compiled.evaluate(values):
            matched.append(rule)  # a broken rule "matches" so its error quarantines the mail
            if not rule.model.continue_after_match:
                break
    return matched


async def _run_matched(
    config: ScanConfig,
    email: ParsedEmail,
    folder: str,
    automated: str | None,
    matched: list[LoadedRule],
    fields: dict[str, Any],
    existing: MessageLog | None,
    conn: BaseDBAsyncClient | None,
    history: TicketStatus | None,
) -> Processed:
    if conn is None:
        async with in_transaction() as own:
            return await _act(
                config, email, folder, automated, matched, fields, existing, own, False, history
            )
    return await _act(
        config, email, folder, automated, matched, fields, existing, conn, True, history
    )


async def _act(
    config: ScanConfig,
    email: ParsedEmail,
    folder: str,
    automated: str | None,
    matched: list[LoadedRule],
    fields: dict[str, Any],
    existing: MessageLog | None,
    conn: BaseDBAsyncClient,
    defer_log: bool,
    history: TicketStatus | None = None,
) -> Processed:
    """Run the matched rules' actions on `conn`; the log row is saved there too, or, in the
    pipeline's batch transaction (`defer_log`), bulk-inserted with the batch's other rows.
    History (`history`, see context.HistoryImport) announces nothing."""
    ctx = MessageContext(config, email, folder, conn, automated=automated, history=history)
    records: list[dict[str, Any]] = []
    if email.kind == "bounce" and (bounce := await _handle_bounce(ctx)) is not None:
        records.append(bounce)
    for rule in matched:
        if rule.error:
            raise ActionConfigError("rule", rule.error)
        for action in rule.actions:
            outcome = await run_action(ctx, action)
            records.append(
                {
                    "type": action["type"],
                    "rule_id": rule.model.id,
                    "rule_name": rule.model.name,
                    "outcome": outcome.outcome,
                    "detail": outcome.detail,
                }
            )
    effects: list[Effect] = [{"op": "seen"}, *ctx.effects]
    acted_row(
        fields,
        ctx.counts,
        automated,
        matched,
        records,
        effects,
        ticket_id=ctx.ticket.id if ctx.ticket else None,
        comment_id=ctx.comment.id if ctx.comment else None,
        contact_id=ctx.contact.id if ctx.contact else None,
    )
    log = _log_row(fields, existing)
    if not defer_log:
        await log.save(using_db=conn)
    events = [] if history else ctx.events
    return Processed(int(fields["uid"]), log, not defer_log, effects, ctx.counts, events)


def acted_row(
    fields: dict[str, Any],
    counts: Counter[str],
    automated: str | None,
    matched: list[LoadedRule],
    actions: list[dict[str, Any]],
    effects: list[Effect],
    *,
    ticket_id: int | None,
    comment_id: int | None,
    contact_id: int | None,
) -> None:
    """Fill in the log row `fields` of a message whose rules acted, and count the message
    (shared by the per-message path and the batch planner, so both log it alike)."""
    fields.update(
        outcome=MessageOutcome.SKIPPED if automated else MessageOutcome.PROCESSED,
        reason=automated,
        rule_id=matched[0].model.id if matched else None,
        # the name too: the log keeps saying which rule acted after the rule is deleted
        rule_name=matched[0].model.name if matched else None,
        actions=actions,
        pending_effects=effects,
        side_effects=SideEffects.PENDING,
        raw_message=None,
        ticket_id=ticket_id,
        comment_id=comment_id,
        contact_id=contact_id,
    )
    if automated or matched:
        counts["skipped" if automated else "matched"] += 1


def _log_row(fields: dict[str, Any], existing: MessageLog | None) -> MessageLog:
    """The log row: the earlier row of the same message updated, or a new one."""
    return existing.update_from_dict(fields) if existing is not None else MessageLog(**fields)


def quarantine_row(fields: dict[str, Any], raw: bytes, reason: str) -> dict[str, Any]:
    fields.update(
        outcome=MessageOutcome.QUARANTINED,
        reason=reason[:10000],
        raw_message=raw,
        pending_effects=[],
        side_effects=SideEffects.DONE,
        actions=[],
        rule_id=None,
        rule_name=None,
        ticket_id=None,
        comment_id=None,
        contact_id=None,
    )
    return fields


@dataclass
class Prepared:
    """A parsed message whose matched rules still have to act (see `prepare_message`).

    `comment` is the reply text and quoted text when decoded ahead (batch_prepare)."""

    email: ParsedEmail
    fields: dict[str, Any]
    automated: str | None
    matched: list[LoadedRule]
    counts: Counter[str]
    comment: tuple[str, str] | None = None


@dataclass
class Unlogged:
    """A message that needs no writes besides its log row: the row's values (plain data, so
    it crosses process boundaries; `logged` makes the unsaved model row)."""

    uid: int
    fields: dict[str, Any]
    counts: Counter[str]

    def logged(self, existing: MessageLog | None = None) -> Processed:
        effects = list(self.fields.get("pending_effects") or [])
        log = _log_row(self.fields, existing) if existing is not None else None
        return Processed(self.uid, log, False, effects, self.counts, fields=self.fields)


def examine_message(
    config: ScanConfig,
    rules: list[LoadedRule],
    folder: str,
    uidvalidity: int,
    uid: int,
    raw: bytes,
    *,
    run_id: int | None = None,
    reread_ids: set[str] | frozenset[str] = frozenset(),
    server_id: str | None = None,
    elsewhere: Mapping[str, str] = _NOWHERE,
) -> Unlogged | Prepared:
    """Everything before the database: parse, classify, match (raises on a rule bug).
    Touches no database, so it can run in a worker process (batch_prepare).

    `server_id` is the server's id of the message across folders; `elsewhere` maps the
    dedupe keys of messages processed in other folders to those folders (duplicates.py)."""
    email = parse_email(raw).with_folder(folder)
    fields = _row(config, email, folder, uidvalidity, uid, run_id, server_id)
    counts: Counter[str] = Counter()

    def unlogged(**extra: Any) -> Unlogged:
        fields.update(extra)
        return Unlogged(uid, fields, counts)

    if _unusable(email):
        counts["errors"] += 1
        return unlogged(**quarantine_row({}, raw, "unreadable: no headers or body could be parsed"))
    key = dedupe_key(server_id, email.message_id)
    if key is not None and key in elsewhere:
        counts.update(skip_counts())
        return unlogged(**duplicate_fields(elsewhere[key]))
    if email.message_id and email.message_id in reread_ids:
        counts["skipped"] += 1
        return unlogged(
            outcome=MessageOutcome.SKIPPED,
            side_effects=SideEffects.PENDING,
            reason="already processed before the folder's UIDVALIDITY changed",
            pending_effects=[{"op": "seen"}],
        )
    automated = automated_reason(email, config)
    matched = _matching(rules, email, folder)
    if not matched and email.kind != "bounce":
        counts["skipped" if automated else "no_match"] += 1
        return unlogged(
            outcome=MessageOutcome.SKIPPED if automated else MessageOutcome.NO_MATCH,
            reason=automated,
            side_effects=SideEffects.PENDING,
            pending_effects=[{"op": "seen"}],
        )
    return Prepared(email, fields, automated, matched, counts)


def prepare_message(
    config: ScanConfig,
    rules: list[LoadedRule],
    folder: str,
    uidvalidity: int,
    uid: int,
    raw: bytes,
    *,
    run_id: int | None = None,
    reread_ids: set[str] | frozenset[str] = frozenset(),
    existing: MessageLog | None = None,
    server_id: str | None = None,
    elsewhere: Mapping[str, str] = _NOWHERE,
) -> Processed | Prepared:
    """`examine_message`, with the log row of mail that needs no other writes as an unsaved
    model row (`Processed`); mail whose rules must act comes back `Prepared`."""
    item = examine_message(
        config, rules, folder, uidvalidity, uid, raw, run_id=run_id, reread_ids=reread_ids,
        server_id=server_id, elsewhere=elsewhere,
    )
    return item.logged(existing) if isinstance(item, Unlogged) else item


async def act_prepared(
    config: ScanConfig,
    prepared: Prepared,
    folder: str,
    conn: BaseDBAsyncClient,
    existing: MessageLog | None = None,
    history: TicketStatus | None = None,
) -> Processed:
    """Run a prepared message's actions on `conn` (the batch transaction); raises on failure.
    The log row comes back unsaved for the batch's bulk insert."""
    p = prepared
    return await _act(
        config, p.email, folder, p.automated, p.matched, p.fields, existing, conn, True, history
    )


async def _logged(config: ScanConfig, folder: str, uidvalidity: int, uid: int) -> bool:
    return await MessageLog.filter(
        scanner_id=config.scanner.id, folder=folder, uidvalidity=uidvalidity, uid=uid
    ).exists()


async def process_message(
    config: ScanConfig,
    rules: list[LoadedRule],
    folder: str,
    uidvalidity: int,
    uid: int,
    raw: bytes,
    *,
    run_id: int | None = None,
    reread_ids: set[str] | frozenset[str] = frozenset(),
    existing: MessageLog | None = None,
    conn: BaseDBAsyncClient | None = None,
    history: TicketStatus | None = None,
    server_id: str | None = None,
    elsewhere: Mapping[str, str] = _NOWHERE,
) -> Processed:
    """Process one fetched message (`history`: imported as history with this status).

    Without `conn` its writes commit in their own transaction and a failing message is
    quarantined, except that a transient database failure (`transient.is_transient`) is
    raised, for the message to be read again by a later scan, and a message whose log row
    another scan wrote meanwhile raises `LoggedElsewhere`. With `conn` (the pipeline's batch
    transaction) the writes go there and a failure raises, so the caller can roll the batch
    back and redo it one message per transaction.
    """
    try:
        prepared = prepare_message(
            config,
            rules,
            folder,
            uidvalidity,
            uid,
            raw,
            run_id=run_id,
            reread_ids=reread_ids,
            existing=existing,
            server_id=server_id,
            elsewhere=elsewhere,
        )
        if isinstance(prepared, Processed):
            return prepared
        p = prepared
        return await _run_matched(
            config, p.email, folder, p.automated, p.matched, p.fields, existing, conn, history
        )
    except Exception as exc:  # noqa: BLE001 — one bad message never aborts the scan
        if conn is not None or is_transient(exc):
            raise  # the batch is redone message by message; a transient failure, later
        if (
            existing is None
            and isinstance(exc, IntegrityError)
            and await _logged(config, folder, uidvalidity, uid)
        ):
            # Another scan (a worker that took the scanner over) logged it meanwhile.
            raise LoggedElsewhere(f"uid {uid} in {folder} was logged by another scan") from exc
        logger.warning(
            "quarantined %s uid %s in %s: %s", config.scanner.name, uid, folder, exc, exc_info=True
        )
        counts: Counter[str] = Counter(errors=1)
        fields = quarantine_row(
            # parsing is deterministic and cheap next to a failure; it never raises
            _row(
                config,
                parse_email(raw).with_folder(folder),
                folder,
                uidvalidity,
                uid,
                run_id,
                server_id,
            ),
            raw,
            f"{type(exc).__name__}: {exc}",
        )
        log = _log_row(fields, existing) if existing is not None else None
        return Processed(uid, log, False, [], counts, fields=fields)
