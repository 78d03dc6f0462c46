"""The outbox: turning an agent's comment into a queued `OutboundEmail` row.

`queue_comment_email` runs inside the addComment transaction, so the comment and its email
commit together or not at all; the caller enqueues the send job after the commit. Rendering
happens now (the mail shows the ticket as it was when the agent wrote), sending later.
addComment renders just before its transaction (`render_ahead`), in an isolated process
under hard limits (render.py): the event loop stays free, the wait is bounded, and no
transaction waits on a template. A template that fails there, or a ticket nobody can be
emailed about, gives a FAILED row whose `reason` and `last_error` say why: the comment is
saved and the agent sees that the customer was not told.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise import Tortoise
from tortoise.expressions import Q

from ..mail.reply import DEFAULT_MARKER
from ..models.comment import Comment, CommentSource
from ..models.email_template import TICKET_COMMENT_TEMPLATE, EmailTemplate
from ..models.outbound_email import DeliveryReason, DeliveryStatus, OutboundEmail
from ..models.ticket import Ticket
from .compose import (
    MAX_REFERENCES,
    InvalidAddress,
    format_recipient,
    normalize_message_id,
    trim_references,
)
from .render import render_isolated
from .template_tags import TICKET_NO_TAG, tag_values
from .templates import (
    DEFAULT_COMMENT_BODY,
    DEFAULT_COMMENT_SUBJECT,
    CommentView,
    RenderContext,
    RenderedEmail,
    TemplateError,
    TemplateLimitError,
    ensure_default_templates,
)
from .threading import make_message_id

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from ..models.user import User
    from ..settings import Settings

__all__ = [
    "SEND_TO_CHOICES",
    "deliveries_for_comments",
    "delivery_for_comment",
    "ensure_default_templates",
    "queue_comment_email",
    "render_ahead",
    "rerender_comment_email",
    "sweep_outbound",
]

logger = logging.getLogger(__name__)

SEND_TO_CHOICES = {"contact_email": "The ticket's contact", "assignee_email": "The assignee"}
MAX_COMMENTS_IN_MAIL = 50


def _domain(settings: Settings | None) -> str:
    if settings is not None:
        return settings.message_id_domain
    # Without settings passed down, read just this one variable: load_settings() would also
    # create the data folder and a secret key file as a side effect.
    from ..settings import Settings as _Settings

    return os.environ.get("MAILSCANNER_MESSAGE_ID_DOMAIN") or _Settings.message_id_domain


def _recipients(ticket: Ticket, send_to: list[str]) -> list[str]:
    candidates: list[tuple[str, str | None]] = []
    if "contact_email" in send_to and ticket.contact is not None:
        candidates.append((ticket.contact.name, ticket.contact.email))
    if "assignee_email" in send_to and ticket.assignee is not None:
        candidates.append((ticket.assignee.name, ticket.assignee.email))
    out: list[str] = []
    seen: set[str] = set()
    for name, address in candidates:
        if not address:
            continue
        try:
            formatted = format_recipient(name, address)
        except InvalidAddress as exc:
            logger.warning("ticket %s: skipping recipient: %s", ticket.number, exc)
            continue
        key = formatted.rpartition("<")[2].lower()
        if key not in seen:
            seen.add(key)
            out.append(formatted)
    return out


def _author_name(comment: Comment) -> str:
    if comment.author_user is not None:
        return comment.author_user.name
    if comment.author_contact is not None:
        return comment.author_contact.name
    return "Support" if comment.source == CommentSource.CRM else "Customer"


async def _context(ticket: Ticket, author: User | None, connection: BaseDBAsyncClient,
                   new: CommentView | None = None) -> RenderContext:
    """What the template sees; `new` is the comment about to be saved (render_ahead)."""
    comments = await (Comment.filter(ticket_id=ticket.id, internal=False)
                      .using_db(connection).select_related("author_user", "author_contact")
                      .order_by("-created_at", "-id").limit(MAX_COMMENTS_IN_MAIL))
    account = ticket.account
    if account is None and ticket.contact is not None:
        await ticket.contact.fetch_related("account", using_db=connection)
        account = ticket.contact.account
    objects: dict[str, dict[str, str]] = {}
    values: dict[str, str] = {}
    for module, obj, name in (("helpdesk", ticket, "ticket"),
                              ("contacts", ticket.contact, "contact"),
                              ("accounts", account, "account"), ("users", author, "user")):
        module_values = tag_values(module, obj)
        values.update(module_values)
        objects[name] = {k.split("-", 1)[1]: v for k, v in module_values.items()}
    values[TICKET_NO_TAG] = ticket.number
    views = tuple(CommentView(_author_name(c), c.created_at, c.body) for c in comments)
    if new is not None:
        views = (new, *views[:MAX_COMMENTS_IN_MAIL - 1])
    return RenderContext(values=values, comments=views, marker=DEFAULT_MARKER, objects=objects)


async def _thread_ids(ticket: Ticket, connection: BaseDBAsyncClient) -> list[str]:
    """The customer's first mail, then the latest mails in the thread (theirs and ours) in
    order; only the most recent ones are read, as References keeps the root and the tail."""
    stamped: list[tuple[dt.datetime, str]] = []
    for c in await (Comment.filter(ticket_id=ticket.id, message_id__isnull=False)
                    .using_db(connection).order_by("-id").limit(MAX_REFERENCES)
                    .only("created_at", "message_id")):
        stamped.append((c.created_at, c.message_id or ""))
    for o in await (OutboundEmail.filter(ticket_id=ticket.id).using_db(connection)
                    .order_by("-id").limit(MAX_REFERENCES).only("created_at", "message_id")):
        stamped.append((o.created_at, o.message_id))
    ids: list[str] = []
    for raw in [ticket.source_message_id, *(mid for _, mid in sorted(stamped, key=lambda x: x[0]))]:
        mid = normalize_message_id(raw)
        if mid and mid not in ids:
            ids.append(mid)
    return trim_references(ids)


async def _render(template: EmailTemplate | None, ctx: RenderContext,
                  number: str) -> RenderedEmail:
    subject, body = DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY
    if template is not None:
        subject, body = template.subject, template.body
    mail = await render_isolated(subject, body, ctx)
    if number not in mail.subject:  # replies must find the ticket even if the admin forgot
        mail = RenderedEmail(f"[{number}] {mail.subject}".strip(), mail.text, mail.html)
    return mail


NO_RECIPIENT_TEXT = ("Not sent: the ticket has no contact with a valid email address "
                     "(and no other recipient the template sends to).")


@dataclass(frozen=True)
class Rendering:
    """A rendered comment email, or why it could not be rendered."""

    mail: RenderedEmail | None = None
    reason: DeliveryReason | None = None
    error: str = ""


async def _rendering(template: EmailTemplate | None, ctx: RenderContext,
                     number: str) -> Rendering:
    try:
        return Rendering(mail=await _render(template, ctx, number))
    except TemplateError as exc:
        logger.warning("ticket %s: comment email not sent: %s", number, exc.message)
        reason = (DeliveryReason.TEMPLATE_LIMIT if isinstance(exc, TemplateLimitError)
                  else DeliveryReason.TEMPLATE_ERROR)
        return Rendering(reason=reason, error=f"Not sent: {exc.message} Fix the \"Ticket "
                                              "comment changed\" template.")


async def _ticket_and_template(ticket_id: int, connection: BaseDBAsyncClient,
                               ) -> tuple[Ticket, EmailTemplate | None, list[str]] | None:
    """The ticket, the active template and the recipients; None if the template is off."""
    ticket = await Ticket.get(id=ticket_id).using_db(connection)  # type: ignore[attr-defined]
    await ticket.fetch_related("contact", "account", "assignee", using_db=connection)
    template = await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).using_db(connection).first()
    if template is not None and not template.active:
        return None
    return ticket, template, _recipients(ticket,
                                         list(template.send_to if template else ["contact_email"]))


async def render_ahead(ticket_id: int, author: User, body: str) -> Rendering | None:
    """Render the email of a comment `author` is about to add, before its transaction, so
    that no database transaction (on SQLite: the whole database) waits on a template.
    None when nothing would be rendered (template inactive, nobody to send to)."""
    connection = Tortoise.get_connection("default")
    found = await _ticket_and_template(ticket_id, connection)
    if found is None or not found[2]:
        return None
    ticket, template, _ = found
    new = CommentView(author.name, dt.datetime.now(dt.UTC), body)
    return await _rendering(template, await _context(ticket, author, connection, new),
                            ticket.number)


async def rerender_comment_email(comment: Comment) -> Rendering | None:
    """Render a saved comment's email again (a resend of one that was never rendered:
    nobody to send to then, or the template failed); None when the template is inactive."""
    connection = Tortoise.get_connection("default")
    found = await _ticket_and_template(comment.ticket_id, connection)  # type: ignore[attr-defined]
    if found is None:
        return None
    ticket, template, _ = found
    await comment.fetch_related("author_user")
    return await _rendering(template, await _context(ticket, comment.author_user, connection),
                            ticket.number)


async def queue_comment_email(comment: Comment, author: User | None,
                              connection: BaseDBAsyncClient, *,
                              settings: Settings | None = None,
                              rendering: Rendering | None = None) -> OutboundEmail | None:
    """Render the "ticket comment changed" mail for `comment` and add it to the outbox.

    Call inside the transaction that saved the comment (pass its connection); enqueue
    `send_outbound(outbound.id)` after the commit when the row is QUEUED. Returns None for
    internal comments, comments that came in by email and an inactive template; a FAILED
    row (reason NO_RECIPIENT, TEMPLATE_LIMIT or TEMPLATE_ERROR) when nothing can be sent.
    `rendering`: the mail rendered before the transaction (`render_ahead`).
    """
    if comment.internal or comment.source == CommentSource.EMAIL:
        return None
    found = await _ticket_and_template(comment.ticket_id, connection)  # type: ignore[attr-defined]
    if found is None:
        return None
    ticket, template, recipients = found
    thread = await _thread_ids(ticket, connection)
    row = OutboundEmail(
        ticket=ticket, comment=comment,
        message_id=make_message_id(ticket.number, f"c{comment.id}", _domain(settings)),
        in_reply_to=thread[-1] if thread else None, references=thread, recipients=recipients,
        subject=f"[{ticket.number}] {ticket.title}"[:998], text_body="", html_body="",
        status=DeliveryStatus.QUEUED)
    if not recipients:
        _failed(row, DeliveryReason.NO_RECIPIENT, NO_RECIPIENT_TEXT)
    else:
        if rendering is None:
            rendering = await _rendering(
                template, await _context(ticket, author, connection), ticket.number)
        if rendering.mail is None:
            _failed(row, rendering.reason or DeliveryReason.TEMPLATE_ERROR, rendering.error)
        else:
            mail = rendering.mail
            row.subject, row.text_body, row.html_body = mail.subject, mail.text, mail.html
    await row.save(using_db=connection)
    return row


def _failed(row: OutboundEmail, reason: DeliveryReason, message: str) -> None:
    row.status, row.reason, row.last_error = DeliveryStatus.FAILED, reason, message


def due_filter(now: dt.datetime) -> Q:
    """Rows a sender may claim now: QUEUED and due, or SENDING with an expired lease."""
    queued = Q(status=DeliveryStatus.QUEUED) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return queued | (Q(status=DeliveryStatus.SENDING) & Q(next_attempt_at__lte=now))


async def sweep_outbound(now: dt.datetime | None = None) -> list[int]:
    """Ids of rows that should be sent now: due QUEUED rows, and SENDING rows whose lease ran
    out (the worker died mid-send). The periodic sweep enqueues `send_outbound` for each."""
    now = now or dt.datetime.now(dt.UTC)
    rows: list[Any] = await (OutboundEmail.filter(due_filter(now)).order_by("id")
                             .values_list("id", flat=True))
    return [int(r) for r in rows]


async def deliveries_for_comments(comment_ids: list[int]) -> list[OutboundEmail | None]:
    """DataLoader body: the latest outbox row per comment, in the order of `comment_ids`."""
    latest: dict[int, OutboundEmail] = {}
    for row in await OutboundEmail.filter(comment_id__in=comment_ids).order_by("id"):
        latest[row.comment_id] = row  # type: ignore[attr-defined]
    return [latest.get(cid) for cid in comment_ids]


async def delivery_for_comment(comment_id: int) -> OutboundEmail | None:
    """The comment's email delivery state (None: it was never emailed)."""
    return (await deliveries_for_comments([comment_id]))[0]


async def current_recipients(ticket_id: int) -> list[str]:
    """Who the ticket's comment emails go to now (for a resend after the contact's address
    was fixed): the template's `send_to` applied to the ticket as it is."""
    ticket = await Ticket.get(id=ticket_id)
    await ticket.fetch_related("contact", "assignee")
    template = await EmailTemplate.filter(key=TICKET_COMMENT_TEMPLATE).first()
    return _recipients(ticket, list(template.send_to if template else ["contact_email"]))
