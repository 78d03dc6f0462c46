"""Finding the ticket a mail belongs to, on the real database (no IMAP needed)."""

from __future__ import annotations

import pytest
from tortoise import Tortoise

from mailscanner.mail.parsing import parse_email
from mailscanner.models import Comment, OutboundEmail, Ticket
from mailscanner.scanning.ticket_matching import find_ticket, normalize_subject
from mailscanner.settings import Settings

from .helpers import mail


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Fwd:  Printer  broken", "printer broken"),
        ("SV: AW: RE[2]: Invoice", "invoice"),
        ("Réponse", "réponse"),
        ("Re:", ""),
    ],
)
def test_normalize_subject_strips_reply_prefixes_in_many_languages(
    subject: str, expected: str
) -> None:
    assert normalize_subject(subject) == expected


async def find(
    raw: bytes, *, regex: str | None = None, match_subject: bool = False
) -> tuple[str | None, str | None]:
    match = await find_ticket(
        parse_email(raw),
        prefix="TT",
        domain="helpdesk.test",
        conn=Tortoise.get_connection("default"),
        regex=regex,
        match_subject=match_subject,
    )
    return (match.ticket.number, match.how) if match else (None, None)


async def test_the_ticket_number_is_found_in_many_subject_shapes(db: Settings) -> None:
    await Ticket.create(number="TT12", title="x")
    for subject in ("TT12", "[TT12] help", "Re: Sv: AW: Fwd: tt12 help", "Re:[TT12]", "(TT12)"):
        assert await find(mail(subject)) == ("TT12", "subject_number"), subject
    for subject in ("TT123", "BUTT12", "TT1", "nothing"):
        assert await find(mail(subject)) == (None, None), subject


async def test_our_message_ids_in_references_win_over_the_subject(db: Settings) -> None:
    await Ticket.create(number="TT1", title="a")
    await Ticket.create(number="TT2", title="b")
    raw = mail("Re: [TT1]", headers={"References": "<x@y> <TT2.c5.abcdef@helpdesk.test>"})
    assert await find(raw) == ("TT2", "message_id")
    foreign = mail("Re: [TT1]", headers={"In-Reply-To": "<TT2.c5.abcdef@other.example>"})
    assert await find(foreign) == ("TT1", "subject_number")


async def test_stored_message_ids_of_sent_mail_first_mails_and_comments_are_followed(
    db: Settings,
) -> None:
    t1 = await Ticket.create(number="TT1", title="a", source_message_id="first@c.example")
    t2 = await Ticket.create(number="TT2", title="b")
    t3 = await Ticket.create(number="TT3", title="c")
    await OutboundEmail.create(
        ticket=t2, message_id="<custom-id@mail.example>", subject="s", text_body="t"
    )
    await Comment.create(ticket=t3, body="b", message_id="second@c.example")
    assert await find(mail("x", headers={"In-Reply-To": "<first@c.example>"})) == (
        "TT1",
        "message_id",
    )
    assert await find(mail("x", headers={"In-Reply-To": "<custom-id@mail.example>"})) == (
        "TT2",
        "message_id",
    )
    assert await find(mail("x", headers={"References": "<second@c.example>"})) == (
        "TT3",
        "message_id",
    )
    assert t1.id and t2.id and t3.id


async def test_custom_regex_reads_subject_then_body_and_subject_matching_is_opt_in(
    db: Settings,
) -> None:
    await Ticket.create(number="TT40", title="Printer jam")
    assert await find(mail("Case 40"), regex=r"Case (\d+)") == ("TT40", "regex")
    assert await find(mail("hi", body="Our case: 40\n"), regex=r"case: (\d+)") == ("TT40", "regex")
    assert await find(mail("Re: printer  JAM")) == (None, None)
    assert await find(mail("Re: printer  JAM"), match_subject=True) == ("TT40", "subject")
