"""Which existing ticket does a mail belong to? Tried in order, first hit wins:

1. our own Message-ID in In-Reply-To/References (survives an edited subject),
   also a Message-ID we already stored for the ticket (its first mail, its comments);
2. the ticket number in the subject (`TT123`, `[TT123]`, `Re: Sv: AW: Fwd: TT123`);
3. the action's custom regex (RE2) over subject then text body; its group is the number;
4. optionally, the same subject once reply prefixes are stripped.

The batch planner (planner.py) asks the same questions of its batch lookups and takes the
regex and subject steps from here, so both paths find the same ticket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import re2
from tortoise.backends.base.client import BaseDBAsyncClient

from ..mail.parsing import ParsedEmail
from ..models import Comment, OutboundEmail, Ticket
from ..outbound.threading import ticket_number_from_message_id

__all__ = [
    "TicketMatch",
    "compile_ticket_regex",
    "find_ticket",
    "normalize_subject",
    "number_pattern",
    "regex_numbers",
    "subject_candidates",
    "subject_key",
]

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|sv|aw|antw|vs|ref|fw|fwd|wg|tr|rv|enc)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TicketMatch:
    ticket: Ticket
    how: str  # message_id | subject_number | regex | subject


def normalize_subject(subject: str) -> str:
    """`"Re: Fwd:  Printer  broken"` -> `"printer broken"` (for exact subject matching)."""
    previous = None
    text = subject
    while previous != text:
        previous = text
        text = _REPLY_PREFIX.sub("", text)
    return _SPACE.sub(" ", text).strip().casefold()


def compile_ticket_regex(pattern: str) -> re2._Regexp:
    """Compile a custom ticket-number pattern with RE2 (linear time; no catastrophic cases)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def number_pattern(prefix: str) -> re.Pattern[str]:
    """Ticket numbers with this prefix in a subject; group 1 is the digits."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}(\d{{1,12}})(?!\d)", re.I)


def _as_number(captured: str, prefix: str) -> str:
    captured = captured.strip().upper()
    return f"{prefix}{captured}" if captured.isdigit() else captured


async def _by_message_ids(ids: list[str], domain: str, conn: BaseDBAsyncClient) -> Ticket | None:
    for mid in ids:  # most recent first: In-Reply-To, then References from the end
        number = ticket_number_from_message_id(mid, domain)
        if number:
            ticket = await Ticket.filter(number=number).using_db(conn).first()
            if ticket is not None:
                return ticket
    both = [*ids, *(f"<{m}>" for m in ids)]
    sent = await OutboundEmail.filter(message_id__in=both).using_db(conn).first()
    if sent is not None:
        return await Ticket.filter(id=sent.ticket_id).using_db(conn).first()  # type: ignore[attr-defined]
    first = await Ticket.filter(source_message_id__in=both).using_db(conn).first()
    if first is not None:
        return first
    comment = await Comment.filter(message_id__in=both).using_db(conn).first()
    if comment is not None:
        return await Ticket.filter(id=comment.ticket_id).using_db(conn).first()  # type: ignore[attr-defined]
    return None


async def _by_numbers(numbers: list[str], conn: BaseDBAsyncClient) -> Ticket | None:
    for number in dict.fromkeys(numbers):
        ticket = await Ticket.filter(number=number).using_db(conn).first()
        if ticket is not None:
            return ticket
    return None


def regex_numbers(email: ParsedEmail, regex: str, prefix: str) -> Iterator[str]:
    """Ticket numbers a custom pattern finds: its first match in the subject, then in the
    text body (read only when asked for: a generator, as decoding the body costs)."""
    compiled = compile_ticket_regex(regex)
    for part in ("subject", "text_body"):
        m = compiled.search(getattr(email, part) or "")
        if m is not None:
            captured = m.group(1) if compiled.groups else m.group(0)
            if captured:
                yield _as_number(captured, prefix)


SUBJECT_CANDIDATES = 50  # newest tickets whose title contains the subject, compared exactly


def subject_key(subject: str) -> tuple[str, str] | None:
    """(normalized subject, the part a title must contain) for subject matching; None when
    the subject is empty once reply prefixes are gone."""
    wanted = normalize_subject(subject)
    return (wanted, wanted[:100]) if wanted else None


async def subject_candidates(core: str, conn: BaseDBAsyncClient, limit: int) -> list[Ticket]:
    """Stored tickets whose title contains `core`, newest first."""
    if limit <= 0:
        return []
    return await Ticket.filter(title__icontains=core).using_db(conn).order_by("-id").limit(limit)


async def find_ticket(
    email: ParsedEmail,
    *,
    prefix: str,
    domain: str,
    conn: BaseDBAsyncClient,
    regex: str | None = None,
    match_subject: bool = False,
) -> TicketMatch | None:
    """The ticket this mail continues, or None when it starts a new conversation."""
    ids = [m for m in (email.in_reply_to, *reversed(email.references)) if m]
    if ids:
        ticket = await _by_message_ids(list(dict.fromkeys(ids)), domain, conn)
        if ticket is not None:
            return TicketMatch(ticket, "message_id")
    numbers = [f"{prefix}{n}" for n in number_pattern(prefix).findall(email.subject)]
    if numbers and (ticket := await _by_numbers(numbers, conn)) is not None:
        return TicketMatch(ticket, "subject_number")
    if regex:
        for number in regex_numbers(email, regex, prefix):
            if ticket := await _by_numbers([number], conn):
                return TicketMatch(ticket, "regex")
    if match_subject and (key := subject_key(email.subject)) is not None:
        wanted, core = key
        for ticket in await subject_candidates(core, conn, SUBJECT_CANDIDATES):
            if normalize_subject(ticket.title) == wanted:
                return TicketMatch(ticket, "subject")
    return None
