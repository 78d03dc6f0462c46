"""Writing what a fetch batch's planner decided, set-based, inside the batch transaction.

Each table's new rows go in multi-row INSERT ... RETURNING statements (models/bulk.py),
ids matched back by a unique key: contacts by normalized address, tickets by number,
comments by (ticket, Message-ID) (comments without a Message-ID are inserted one by one;
they are rare). Order follows the foreign keys: contacts, tickets (with the ticket
counter), comments, attachments, then the updated existing tickets and bounced emails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ..mail.parsing import ParsedEmail
from ..models import (
    Attachment,
    Comment,
    CommentSource,
    Contact,
    DeliveryAttempt,
    DeliveryStatus,
    OutboundEmail,
    Sequence,
    Ticket,
)
from ..models.bulk import insert_models, insert_rows
from ..storage.attachments import AttachmentPolicy, default_policy, parsed_rows

__all__ = ["TICKET_SEQUENCE", "NewComment", "Pending", "write_pending"]

TICKET_SEQUENCE = "ticket"  # the Sequence row Ticket.allocate_number uses


@dataclass(eq=False)
class NewComment:
    """A comment to insert; `id` is filled in by `write_pending`."""

    ticket: Ticket
    contact: Contact | None
    body: str
    message_id: str | None
    quoted_text: str
    id: int | None = None
    created_at: datetime | None = None  # imported history keeps its mail's date


@dataclass
class Pending:
    """Rows planned since the last write, in creation order."""

    contacts: list[Contact] = field(default_factory=list)
    tickets: list[tuple[Ticket, Contact | None]] = field(default_factory=list)
    comments: list[NewComment] = field(default_factory=list)
    attachments: list[tuple[Ticket, NewComment | None, ParsedEmail]] = field(default_factory=list)
    touched: dict[int, tuple[Ticket, bool]] = field(default_factory=dict)  # id -> fields changed?
    failed: list[tuple[OutboundEmail, str]] = field(default_factory=list)  # bounced, error
    dated: dict[int, Ticket] = field(default_factory=dict)  # id -> ticket with history news
    last_number: int | None = None  # the last ticket number handed out (counter reserved)

    def __bool__(self) -> bool:
        return bool(
            self.contacts
            or self.tickets
            or self.comments
            or self.touched
            or self.failed
            or self.dated
            or self.last_number is not None
        )


async def _tickets(rows: list[tuple[Ticket, Contact | None]], conn: BaseDBAsyncClient) -> None:
    tickets = []
    for ticket, contact in rows:
        ticket.contact_id = contact.id if contact is not None else None
        tickets.append(ticket)
    await insert_models(tickets, conn, key="number")


def _comment_row(new: NewComment) -> dict[str, Any]:
    return dict(
        ticket_id=new.ticket.id,
        author_contact_id=new.contact.id if new.contact is not None else None,
        body=new.body,
        source=CommentSource.EMAIL,
        message_id=new.message_id,
        quoted_text=new.quoted_text,
        created_at=new.created_at,  # None: now
    )


async def _comments(rows: list[NewComment], conn: BaseDBAsyncClient) -> None:
    keyed = [c for c in rows if c.message_id]
    for new in rows:
        if not new.message_id:
            (row,) = await insert_rows(Comment, [_comment_row(new)], conn, returning=("id",))
            new.id = int(row["id"])
    inserted = await insert_rows(
        Comment, [_comment_row(c) for c in keyed], conn, returning=("id", "ticket_id", "message_id")
    )
    # The planner never adds a Message-ID twice to one ticket: the key is unique here.
    found = {(int(r["ticket_id"]), str(r["message_id"])): int(r["id"]) for r in inserted}
    for new in keyed:
        new.id = found[(int(new.ticket.id), str(new.message_id))]


async def _attachment_rows(
    items: list[tuple[Ticket, NewComment | None, ParsedEmail]], policy: AttachmentPolicy
) -> list[dict[str, Any]]:
    return await parsed_rows(
        [(email, ticket.id, comment.id if comment else None) for ticket, comment, email in items],
        policy,
    )


async def write_pending(
    pending: Pending, conn: BaseDBAsyncClient, policy: AttachmentPolicy | None = None
) -> None:
    """Insert/update everything in `pending` on `conn`, fill in the ids, then empty it.
    Attachment bytes go to `policy`'s blob store (default: as the environment says)."""
    await insert_models(pending.contacts, conn, key="email_normalized")
    if pending.last_number is not None:
        await Sequence.store(TICKET_SEQUENCE, pending.last_number, conn)
    if pending.tickets:
        await _tickets(pending.tickets, conn)
    if pending.comments:
        await _comments(pending.comments, conn)
    if pending.attachments:
        rows = await _attachment_rows(pending.attachments, policy or default_policy())
        await insert_rows(Attachment, rows, conn)
    for ticket in pending.dated.values():  # history: the last change is its mail's date
        await Ticket.filter(id=ticket.id).using_db(conn).update(updated_at=ticket.updated_at)
    bumped = []
    for ticket, changed in pending.touched.values():
        if changed:
            await ticket.save(using_db=conn)
        else:
            bumped.append(ticket)
    if bumped:  # a reply is news: updated_at moves, as `ticket.save()` would do
        now = datetime.now(UTC)
        await Ticket.filter(id__in=[t.id for t in bumped]).using_db(conn).update(updated_at=now)
        for ticket in bumped:
            ticket.updated_at = now
    for sent, error in pending.failed:  # comment emails a bounce reported undelivered
        sent.status, sent.last_error = DeliveryStatus.BOUNCED, error
        await sent.save(using_db=conn, update_fields=["status", "last_error", "updated_at"])
        await DeliveryAttempt.create(  # the history shows the bounce after the accepted send
            using_db=conn, outbound_email_id=sent.id, number=sent.attempts,
            status=DeliveryStatus.BOUNCED, error=error)
    pending.__init__()  # type: ignore[misc]  # start over: everything above is written
