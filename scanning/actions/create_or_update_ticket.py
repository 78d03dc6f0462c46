"""Add the mail to the ticket it belongs to as a comment, or open a new ticket.

Config: `set` (fields on create: status, priority, category, assignee_id), `set_on_update`
(same keys, applied when a reply arrives), `reopen` (a reply reopens a closed ticket),
`regex` (custom ticket-number pattern, RE2), `match_subject` (same subject = same ticket).
"""

from __future__ import annotations

from typing import Any

import re2

from ...mail.parsing import ParsedEmail
from ...mail.reply import extract_reply
from ...models import Comment, CommentSource, Ticket, TicketPriority, TicketStatus, User
from ...models.attachment import Attachment
from ..context import ActionOutcome, MessageContext
from ..ticket_matching import compile_ticket_regex, find_ticket
from .create_contact import ensure_contact
from .errors import ActionConfigError, check_bool, check_keys

TYPE = "create_or_update_ticket"
LABEL = "Create or update ticket"
_SET_KEYS = {"status", "priority", "category", "assignee_id"}
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


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
            raise ActionConfigError("regex", f"not a valid RE2 pattern: {exc}") from None
        if compiled.groups > 1:
            raise ActionConfigError("regex", "use at most one capturing group (the ticket number)")
        out["regex"] = regex
    return out


async def _apply_fields(ctx: MessageContext, ticket: Ticket, values: dict[str, Any]) -> list[str]:
    changed = []
    for name, value in values.items():
        if (name == "assignee_id" and value is not None
                and not await User.filter(id=value).using_db(ctx.conn).exists()):
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


async def _store_attachments(
    ctx: MessageContext, email: ParsedEmail, ticket: Ticket, comment: Comment | None
) -> int:
    rows = []
    for att in email.attachments:
        if att.size > MAX_ATTACHMENT_BYTES:
            continue
        rows.append(
            Attachment(
                ticket=ticket,
                comment=comment,
                filename=(att.filename or "attachment")[:255],
                content_type=att.content_type[:255],
                size=att.size,
                sha256=att.sha256,
                content_id=att.content_id,
                inline=att.inline,
                content=att.payload(),
            )
        )
    if rows:
        await Attachment.bulk_create(rows, using_db=ctx.conn)
    return len(rows)


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
    parts = extract_reply(email.text_body, email.html_body or None)
    comment = Comment(
        ticket=ticket,
        body=parts.reply_text or email.text_body or email.subject,
        author_contact=contact,
        source=CommentSource.EMAIL,
        message_id=mid,
        quoted_text=parts.quoted_text,
    )
    await comment.save(using_db=ctx.conn)
    ctx.comment = comment
    await _store_attachments(ctx, email, ticket, comment)
    changed = await _apply_fields(ctx, ticket, config["set_on_update"])
    if config["reopen"] and ticket.status == TicketStatus.CLOSED and "status" not in changed:
        ticket.status = TicketStatus.OPEN
        changed.append("status")
    await ticket.save(using_db=ctx.conn)  # bumps updated_at: the ticket has news
    ctx.counts["comments_added"] += 1
    ctx.counts["tickets_updated"] += 1
    ctx.events.append(("comment_added", ticket.id, {"comment_id": comment.id}))
    if changed:
        ctx.events.append(("ticket_updated", ticket.id, {"fields": changed}))
    return ActionOutcome(
        "done",
        f"comment {comment.id} added to {ticket.number} (matched by {how})"
        + (f"; {', '.join(changed)} changed" if changed else ""),
    )


async def _create(ctx: MessageContext, config: dict[str, Any]) -> ActionOutcome:
    email = ctx.email
    contact, _ = await ensure_contact(ctx)
    ticket = Ticket(
        number=await Ticket.allocate_number(ctx.config.ticket_prefix, ctx.conn),
        title=(email.subject.strip() or "(no subject)")[:998],
        description=email.text_body,
        contact=contact,
        account_id=contact.account_id if contact else None,  # type: ignore[attr-defined]
        source_message_id=email.message_id,
    )
    await _apply_fields(ctx, ticket, config["set"])
    await ticket.save(using_db=ctx.conn)
    ctx.ticket = ticket
    stored = await _store_attachments(ctx, email, ticket, None)
    ctx.counts["tickets_created"] += 1
    ctx.events.append(("ticket_created", ticket.id, {"number": ticket.number}))
    return ActionOutcome(
        "done",
        f"created ticket {ticket.number}" + (f" with {stored} attachment(s)" if stored else ""),
    )


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
