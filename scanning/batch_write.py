"""Writing what a fetch batch's planner decided, set-based, inside the batch transaction.

`bulk_create` sends one executemany per table and does not give ids back (neither on
asyncpg nor on SQLite), so ids are read back by a unique key: contacts by normalized
address, tickets by number, comments by (ticket, Message-ID) (comments without a
Message-ID are saved one by one; they are rare). Order follows the foreign keys:
contacts, tickets (with the ticket counter), comments, attachments, then the updated
existing tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from ..mail.parsing import ParsedEmail
from ..models import Attachment, Comment, CommentSource, Contact, Sequence, Ticket
from .actions.create_or_update_ticket import attachment_rows

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


@dataclass
class Pending:
    """Rows planned since the last write, in creation order."""

    contacts: list[Contact] = field(default_factory=list)
    tickets: list[tuple[Ticket, Contact | None]] = field(default_factory=list)
    comments: list[NewComment] = field(default_factory=list)
    attachments: list[tuple[Ticket, NewComment | None, ParsedEmail]] = field(default_factory=list)
    touched: dict[int, tuple[Ticket, bool]] = field(default_factory=dict)  # id -> fields changed?
    last_number: int | None = None  # the last ticket number handed out (counter reserved)

    def __bool__(self) -> bool:
        return bool(
            self.contacts
            or self.tickets
            or self.comments
            or self.touched
            or self.last_number is not None
        )


def _mark_saved(obj: Contact | Ticket, pk: int) -> None:
    obj.pk = pk
    obj._saved_in_db = True  # later saves UPDATE it instead of inserting again


async def _contacts(rows: list[Contact], conn: BaseDBAsyncClient) -> None:
    await Contact.bulk_create(rows, using_db=conn)
    keys = [c.email_normalized for c in rows]
    ids = dict(
        await Contact.filter(email_normalized__in=keys)
        .using_db(conn)
        .values_list("email_normalized", "id")
    )
    for contact in rows:
        _mark_saved(contact, int(ids[contact.email_normalized]))


async def _tickets(rows: list[tuple[Ticket, Contact | None]], conn: BaseDBAsyncClient) -> None:
    tickets = []
    for ticket, contact in rows:
        ticket.contact_id = contact.id if contact is not None else None
        tickets.append(ticket)
    await Ticket.bulk_create(tickets, using_db=conn)
    ids = dict(
        await Ticket.filter(number__in=[t.number for t in tickets])
        .using_db(conn)
        .values_list("number", "id")
    )
    for ticket in tickets:
        _mark_saved(ticket, int(ids[ticket.number]))


def _comment_row(new: NewComment) -> Comment:
    return Comment(
        ticket_id=new.ticket.id,
        author_contact_id=new.contact.id if new.contact is not None else None,
        body=new.body,
        source=CommentSource.EMAIL,
        message_id=new.message_id,
        quoted_text=new.quoted_text,
    )


async def _comments(rows: list[NewComment], conn: BaseDBAsyncClient) -> None:
    keyed = [c for c in rows if c.message_id]
    for new in rows:
        if not new.message_id:
            comment = _comment_row(new)
            await comment.save(using_db=conn)
            new.id = comment.id
    if not keyed:
        return
    await Comment.bulk_create([_comment_row(c) for c in keyed], using_db=conn)
    found: dict[tuple[int, str], int] = {}
    for cid, tid, mid in (
        await Comment.filter(
            ticket_id__in={c.ticket.id for c in keyed},
            message_id__in={c.message_id for c in keyed},
        )
        .using_db(conn)
        .values_list("id", "ticket_id", "message_id")
    ):
        key = (int(tid), str(mid))
        # The planner never adds a Message-ID twice to one ticket, so ours is the newest.
        found[key] = max(found.get(key, 0), int(cid))
    for new in keyed:
        new.id = found[(int(new.ticket.id), str(new.message_id))]


def _attachment_rows(
    items: list[tuple[Ticket, NewComment | None, ParsedEmail]],
) -> list[Attachment]:
    return [
        row
        for ticket, comment, email in items
        for row in attachment_rows(
            email,
            ticket_id=ticket.id,
            comment_id=comment.id if comment is not None else None,
        )
    ]


async def write_pending(pending: Pending, conn: BaseDBAsyncClient) -> None:
    """Insert/update everything in `pending` on `conn`, fill in the ids, then empty it."""
    if pending.contacts:
        await _contacts(pending.contacts, conn)
    if pending.last_number is not None:
        await Sequence.store(TICKET_SEQUENCE, pending.last_number, conn)
    if pending.tickets:
        await _tickets(pending.tickets, conn)
    if pending.comments:
        await _comments(pending.comments, conn)
    if attachments := _attachment_rows(pending.attachments):
        await Attachment.bulk_create(attachments, using_db=conn)
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
    pending.__init__()  # type: ignore[misc]  # start over: everything above is written
