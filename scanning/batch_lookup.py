"""The rows a fetch batch's actions look at, loaded for the whole batch in a few queries.

The planner (batch.py) answers every question the per-message actions would ask the
database (`find_ticket`, duplicate checks, contacts) from these maps, and adds what it plans
to create as it goes, so a later message in the same batch sees an earlier one's new
contact, ticket or comment exactly as it would have seen committed rows.

Ordering matters where the per-message code takes `.first()` of several rows: tickets come
newest first (Ticket.Meta.ordering = -id), comments and outbound emails oldest first. Rows
planned in this batch get keys above every stored id (`PLANNED_KEY`), as their ids will be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from ..mail.parsing import ParsedEmail
from ..models import Comment, Contact, OutboundEmail, Ticket, User, normalize_email
from ..outbound.threading import ticket_number_from_message_id
from .ticket_matching import number_pattern

__all__ = ["PLANNED_KEY", "Lookups", "reference_ids", "load_lookups"]

PLANNED_KEY = 10**15  # above any serial id: planned rows sort after stored ones


def reference_ids(email: ParsedEmail) -> list[str]:
    """In-Reply-To then References from the end, deduplicated (as find_ticket tries them)."""
    ids = [m for m in (email.in_reply_to, *reversed(email.references)) if m]
    return list(dict.fromkeys(ids))


@dataclass
class Lookups:
    """Answers for one batch; keys are what the per-message queries filter on."""

    contacts: dict[str, Contact] = field(default_factory=dict)  # email_normalized -> contact
    by_number: dict[str, Ticket] = field(default_factory=dict)
    by_id: dict[int, Ticket] = field(default_factory=dict)
    # source_message_id -> [(sort key, ticket)]; the highest key is what `.first()` returns
    by_source: dict[str, list[tuple[int, Ticket]]] = field(default_factory=dict)
    # message_id -> [(sort key, ticket)] of comments / [(id, ticket_id)] of outbound emails;
    # the lowest key is what `.first()` returns
    comments: dict[str, list[tuple[int, Ticket]]] = field(default_factory=dict)
    outbound: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    users: set[int] = field(default_factory=set)  # assignee ids that exist

    def newest_by_source(self, ids: list[str]) -> Ticket | None:
        found = [kt for i in ids for kt in self.by_source.get(i, ())]
        return max(found, key=lambda kt: kt[0])[1] if found else None

    def oldest_comment_ticket(self, ids: list[str]) -> Ticket | None:
        found = [kt for i in ids for kt in self.comments.get(i, ())]
        return min(found, key=lambda kt: kt[0])[1] if found else None

    def oldest_outbound(self, ids: list[str]) -> tuple[int, int] | None:
        found = [row for i in ids for row in self.outbound.get(i, ())]
        return min(found) if found else None

    def has_comment(self, ticket: Ticket, message_id: str) -> bool:
        return any(t is ticket for _, t in self.comments.get(message_id, ()))

    def add_ticket(self, ticket: Ticket, key: int) -> None:
        if ticket.id is not None:
            self.by_id[ticket.id] = ticket
        self.by_number[ticket.number] = ticket
        if ticket.source_message_id:
            self.by_source.setdefault(ticket.source_message_id, []).append((key, ticket))


def _keys(
    emails: list[ParsedEmail], prefix: str, domain: str
) -> tuple[set[str], set[str], set[str], set[str]]:
    """(sender addresses, referenced Message-IDs in both spellings, ticket numbers, own ids)"""
    senders = {
        normalize_email(e.from_.address) for e in emails if e.from_ and "@" in e.from_.address
    }
    refs: set[str] = set()
    numbers: set[str] = set()
    own: set[str] = set()
    pattern = number_pattern(prefix)
    for email in emails:
        for mid in reference_ids(email):
            refs.update((mid, f"<{mid}>"))
            if number := ticket_number_from_message_id(mid, domain):
                numbers.add(number)
        numbers.update(f"{prefix}{n}" for n in pattern.findall(email.subject))
        if email.message_id:
            own.add(email.message_id)
    return senders, refs, numbers, own


async def load_lookups(
    emails: list[ParsedEmail],
    *,
    prefix: str,
    domain: str,
    assignees: set[int],
    conn: BaseDBAsyncClient,
    numbers: set[str] | frozenset[str] = frozenset(),
) -> Lookups:
    """Everything `emails` may ask about, in at most six queries; `numbers` adds ticket
    numbers found another way (the rules' custom ticket patterns)."""
    out = Lookups()
    senders, refs, subject_numbers, own = _keys(emails, prefix, domain)
    numbers = subject_numbers | numbers
    if senders:
        for contact in await Contact.filter(email_normalized__in=senders).using_db(conn):
            out.contacts[contact.email_normalized] = contact
    if refs:
        rows = await (
            OutboundEmail.filter(message_id__in=refs)
            .using_db(conn)
            .values_list("id", "message_id", "ticket_id")
        )
        for oid, mid, tid in rows:
            out.outbound.setdefault(str(mid), []).append((int(oid), int(tid)))
    comment_rows: list[tuple[int, str, int]] = []
    if refs or own:
        rows = await (
            Comment.filter(message_id__in=refs | own)
            .using_db(conn)
            .values_list("id", "message_id", "ticket_id")
        )
        comment_rows = [(int(c), str(m), int(t)) for c, m, t in rows]
    ticket_ids = {t for _, _, t in comment_rows} | {
        t for rows_ in out.outbound.values() for _, t in rows_
    }
    query = Q(number__in=numbers) if numbers else None
    if refs or own:
        by_source = Q(source_message_id__in=refs | own)
        query = by_source if query is None else query | by_source
    if ticket_ids:
        by_id = Q(id__in=ticket_ids)
        query = by_id if query is None else query | by_id
    if query is not None:
        for ticket in await Ticket.filter(query).using_db(conn):
            out.add_ticket(ticket, ticket.id)
    for cid, mid, tid in comment_rows:
        out.comments.setdefault(mid, []).append((cid, out.by_id[tid]))
    if assignees:
        out.users = set(
            await User.filter(id__in=assignees).using_db(conn).values_list("id", flat=True)  # type: ignore[arg-type]
        )
    return out
