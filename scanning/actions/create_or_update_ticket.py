"""Add the mail to the ticket it belongs to as a comment, or open a new ticket.

Config: `set` (fields on create: status, priority, category, assignee_id), `set_on_update`
(same keys, applied when a reply arrives), `reopen` (a reply reopens a closed ticket),
`regex` (custom ticket-number pattern, RE2), `match_subject` (same subject = same ticket).
Mail imported as history (context.HistoryImport) opens tickets with the import's status and
its own date, and a history reply only adds its comment, dated: no field changes, no reopen,
no events.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime
from typing import Any

import re2

from ...mail.parsing import ParsedEmail
from ...mail.reply import extract_reply
from ...models import Comment, CommentSource, Contact, Ticket, TicketPriority, TicketStatus, User
from ...models.attachment import Attachment
from ...models.bulk import insert_rows, new_row
from ...storage.attachments import AttachmentPolicy, default_policy, parsed_rows, skipped_note
from ..context import ActionOutcome, MessageContext, ScanConfig
from ..ticket_matching import compile_ticket_regex, find_ticket
from .create_contact import ensure_contact
from .errors import ActionConfigError, check_bool, check_keys

TYPE = "create_or_update_ticket"
LABEL = "Create or update ticket"
_SET_KEYS = {"status", "priority", "category", "assignee_id"}


def _validate_set(key: str, values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ActionConfigError(key, "must be an object of ticket fields")
    out: dict[str, Any] = {}
    for name, value in values.items():
        where = f"{key}.{name}"
        if name not in _SET_KEYS:
            raise ActionConfigError(
                where, f"not a settable ticket field; allowed: {', '.join(sorted(_SET_KEYS))}"
            )
        if name == "status":
            if value not in {s.value for s in TicketStatus}:
                raise ActionConfigError(
                    where, f"must be one of {', '.join(s.value for s in TicketStatus)}"
                )
        elif name == "priority":
            if value not in {p.value for p in TicketPriority}:
                raise ActionConfigError(
                    where, f"must be one of {', '.join(p.value for p in TicketPriority)}"
                )
        elif name == "category":
            if value is not None and (not isinstance(value, str) or len(value) > 100):
                raise ActionConfigError(where, "must be text of at most 100 characters")
        elif value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ActionConfigError(where, "must be a user id")
        out[name] = value
    return out


def _re2_reason(exc: Exception) -> str:
    """RE2's message is bytes (`b'missing ): a(b'`): show it as text."""
    reason = exc.args[0] if exc.args else str(exc)
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return str(reason)


def validate(config: dict[str, Any]) -> dict[str, Any]:
    check_keys(config, {"set", "set_on_update", "reopen", "regex", "match_subject"})
    out: dict[str, Any] = {
        "set": _validate_set("set", config.get("set")),
        "set_on_update": _validate_set("set_on_update", config.get("set_on_update")),
        "reopen": check_bool(config, "reopen"),
        "match_subject": check_bool(config, "match_subject"),
    }
    regex = config.get("regex")
    if regex not in (None, ""):
        if not isinstance(regex, str):
            raise ActionConfigError("regex", "must be a regular expression")
        try:
            compiled = compile_ticket_regex(regex)
        except re2.error as exc:
            reason = _re2_reason(exc)
            raise ActionConfigError("regex", f"not a valid RE2 pattern: {reason}") from None
        if compiled.groups > 1:
            raise ActionConfigError("regex", "use at most one capturing group (the ticket number)")
        out["regex"] = regex
    return out


def apply_fields(ticket: Ticket, values: dict[str, Any], users: Container[int]) -> list[str]:
    """Set the rule's ticket `values` on `ticket`; the names of the fields that changed.

    `users` holds the assignee ids that still exist (shared with the batch planner, which
    knows them from its lookups instead of asking the database)."""
    changed = []
    for name, value in values.items():
        if name == "assignee_id" and value is not None and value not in users:
            continue  # the user was deleted since the rule was saved; keep the ticket
        if getattr(ticket, name) != value:
            setattr(
                ticket,
                name,
                TicketStatus(value)
                if name == "status"
                else TicketPriority(value)
                if name == "priority"
                else value,
            )
            changed.append(name)
    return changed


def apply_update_fields(ticket: Ticket, config: dict[str, Any], users: Container[int]) -> list[str]:
    """A reply's changes to its ticket: `set_on_update`, then `reopen` a closed ticket."""
    changed = apply_fields(ticket, config["set_on_update"], users)
    if config["reopen"] and ticket.status == TicketStatus.CLOSED and "status" not in changed:
        ticket.status = TicketStatus.OPEN
        changed.append("status")
    return changed


async def _existing_users(ctx: MessageContext, values: dict[str, Any]) -> set[int]:
    """The rule's assignee, when it still exists (the only user `apply_fields` asks about)."""
    assignee = values.get("assignee_id")
    if assignee is not None and await User.filter(id=assignee).using_db(ctx.conn).exists():
        return {assignee}
    return set()


def attachment_policy(ctx_config: ScanConfig) -> AttachmentPolicy:
    """Where the scan stores attachment bytes and its size limit."""
    return ctx_config.attachments or default_policy()


async def _store_attachments(
    ctx: MessageContext, email: ParsedEmail, ticket: Ticket, comment: Comment | None
) -> int:
    policy = attachment_policy(ctx.config)
    rows = await parsed_rows([(email, ticket.id, comment.id if comment else None)], policy)
    await insert_rows(Attachment, rows, ctx.conn)
    return sum(1 for r in rows if r["skipped_reason"] is None)


def comment_text(email: ParsedEmail) -> tuple[str, str]:
    """A reply's comment body (the quoted history and the signature cut off) and the text
    that was cut: the signature first, so the stored comment loses nothing of the mail."""
    parts = extract_reply(email.text_body, email.html_body or None, subject=email.subject)
    cut = "\n\n".join(piece for piece in (parts.signature, parts.quoted_text) if piece)
    return parts.reply_text or email.text_body or email.subject, cut


def new_ticket(email: ParsedEmail, number: str, sender: Contact | None, **extra: Any) -> Ticket:
    """An unsaved ticket opened from `email`, owned by the `sender` contact's account.

    `extra` adds fields (the action links `contact=` here; the batch planner links it when
    its pending tickets are written)."""
    return new_row(
        Ticket,
        number=number,
        title=(email.subject.strip() or "(no subject)")[:998],
        description=email.text_body,
        **extra,
        account_id=sender.account_id if sender else None,  # type: ignore[attr-defined]
        source_message_id=email.message_id,
    )


def mail_date(email: ParsedEmail) -> datetime:
    """When the mail was written, for mail imported as history: its Date header, never
    later than now (a wrong clock), now when it has none."""
    now = datetime.now(UTC)
    return min(email.date, now) if email.date is not None else now


def as_history(ticket: Ticket, status: TicketStatus, when: datetime) -> None:
    """A ticket opened from history: the import's status, the mail's date."""
    ticket.status, ticket.created_at, ticket.updated_at = status, when, when


def updated_detail(
    comment_id: int | None, number: str, how: str, changed: list[str], skipped: str = ""
) -> str:
    """The log detail of a reply added to a ticket (`skipped`: `skipped_note`)."""
    suffix = f"; {', '.join(changed)} changed" if changed else ""
    return f"comment {comment_id} added to {number} (matched by {how}){suffix}{skipped}"


def created_detail(number: str, stored: int, skipped: str = "") -> str:
    """The log detail of a new ticket with `stored` attachments (`skipped`: `skipped_note`)."""
    with_files = f" with {stored} attachment(s)" if stored else ""
    return f"created ticket {number}{with_files}{skipped}"


async def _update(
    ctx: MessageContext, ticket: Ticket, how: str, config: dict[str, Any]
) -> ActionOutcome:
    email = ctx.email
    ctx.ticket = ticket
    mid = email.message_id
    if mid and (
        ticket.source_message_id == mid
        or await Comment.filter(ticket_id=ticket.id, message_id=mid).using_db(ctx.conn).exists()
    ):
        return ActionOutcome("duplicate", f"already on ticket {ticket.number}")
    contact, _ = await ensure_contact(ctx)
    body, quoted = comment_text(email)
    comment = Comment(
        ticket=ticket,
        body=body,
        author_contact=contact,
        source=CommentSource.EMAIL,
        message_id=mid,
        quoted_text=quoted,
        **({"created_at": mail_date(email)} if ctx.history else {}),
    )
    await comment.save(using_db=ctx.conn)
    ctx.comment = comment
    await _store_attachments(ctx, email, ticket, comment)
    changed: list[str] = []
    if ctx.history:  # old news: the ticket's state stays, its last change is the mail's date
        ticket.updated_at = max(ticket.updated_at, comment.created_at)
        await Ticket.filter(id=ticket.id).using_db(ctx.conn).update(updated_at=ticket.updated_at)
        ctx.counts["imported"] += 1
    else:
        users = await _existing_users(ctx, config["set_on_update"])
        changed = apply_update_fields(ticket, config, users)
        await ticket.save(using_db=ctx.conn)  # bumps updated_at: the ticket has news
        ctx.events.append(("comment_added", ticket.id, {"comment_id": comment.id}))
        if changed:
            ctx.events.append(("ticket_updated", ticket.id, {"fields": changed}))
    ctx.counts["comments_added"] += 1
    ctx.counts["tickets_updated"] += 1
    skipped = skipped_note(email, attachment_policy(ctx.config).max_bytes)
    return ActionOutcome("done", updated_detail(comment.id, ticket.number, how, changed, skipped))


async def _create(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    email = ctx.email
    contact, _ = await ensure_contact(ctx)
    number = await Ticket.allocate_number(ctx.config.ticket_prefix, ctx.conn)
    ticket = new_ticket(email, number, contact, contact=contact)
    apply_fields(ticket, config["set"], await _existing_users(ctx, config["set"]))
    if ctx.history:
        as_history(ticket, ctx.history, mail_date(email))
    await ticket.save(using_db=ctx.conn)
    if ctx.history:  # save() stamps updated_at with now
        await Ticket.filter(id=ticket.id).using_db(ctx.conn).update(updated_at=ticket.created_at)
        ticket.updated_at = ticket.created_at
        ctx.counts["imported"] += 1
    else:
        ctx.events.append(("ticket_created", ticket.id, {"number": ticket.number}))
    ctx.ticket = ticket
    stored = await _store_attachments(ctx, email, ticket, None)
    ctx.counts["tickets_created"] += 1
    skipped = skipped_note(email, attachment_policy(ctx.config).max_bytes)
    return ActionOutcome("done", created_detail(ticket.number, stored, skipped))


async def run(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    if ctx.automated:
        return ActionOutcome("skipped", ctx.automated)
    email = ctx.email
    match = await find_ticket(
        email,
        prefix=ctx.config.ticket_prefix,
        domain=ctx.config.message_id_domain,
        conn=ctx.conn,
        regex=config.get("regex"),
        match_subject=config["match_subject"],
    )
    if match is not None:
        return await _update(ctx, match.ticket, match.how, config)
    if email.message_id:  # the same mail seen again (copied to a second folder, re-read)
        same = await Ticket.filter(source_message_id=email.message_id).using_db(ctx.conn).first()
        if same is not None:
            ctx.ticket = same
            return ActionOutcome("duplicate", f"ticket {same.number} was created from this mail")
    return await _create(ctx, config)
