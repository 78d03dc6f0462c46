"""The set-based batch path (scanning/batch.py) against the real Dovecot and database:
what earlier mail of a batch created is seen by later mail of the same batch, ticket
numbers stay gapless, and one failing message is quarantined without losing the batch."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any, cast

import pytest

from mailscanner.mail import reply
from mailscanner.models import (
    Attachment,
    Comment,
    Contact,
    MessageLog,
    MessageOutcome,
    ScanRunStatus,
    SideEffects,
    Ticket,
)
from mailscanner.scanning import pipeline, process
from mailscanner.scanning.actions import create_or_update_ticket
from mailscanner.scanning.batch_prepare import DECODED_ATTACHMENTS
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.storage.attachments import policy_for, read_bytes

from ..fixtures.dovecot import ImapUser
from .helpers import CONTACT, SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration


@pytest.fixture
def one_by_one_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records when a batch fell back to one transaction per message."""
    calls: list[int] = []
    original = pipeline._FolderScan._one_by_one

    async def spy(self: Any, fetched: Any, reread: Any, elsewhere: Any) -> Any:
        calls.append(len(fetched))
        return await original(self, fetched, reread, elsewhere)

    monkeypatch.setattr(pipeline._FolderScan, "_one_by_one", spy)
    return calls


@pytest.mark.parametrize("parse_processes", [0, 1], ids=["parsed-here", "parse-process"])
async def test_one_batch_makes_one_contact_per_new_sender_and_threads_replies_into_it(
    db: Settings, imap_user: ImapUser, one_by_one_calls: list[int], parse_processes: int
) -> None:
    # parse_processes=0 without a budget: parsed in this process (with one: in a process)
    db = replace(db, parse_processes=parse_processes,
                 message_budget_seconds=db.message_budget_seconds if parse_processes else 0)
    # given: a new sender's first mail, a reply to it and a second mail, all in one batch
    ann = "Ann Example <ann@example.com>"
    imap_user.append(
        "INBOX",
        [
            mail("Printer broken", sender=ann, message_id="<first@customer.example>"),
            mail(
                "Re: Printer broken",
                sender="ANN@Example.com",
                body="Still broken.\n",
                message_id="<second@customer.example>",
                headers={"In-Reply-To": "<first@customer.example>"},
            ),
            mail(
                "Re: Re: Printer broken",
                sender="Bob <bob@example.com>",
                body="Me too.\n",
                headers={"References": "<first@customer.example> <second@customer.example>"},
            ),
            mail("Another question", sender=ann),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then: one contact per sender, the replies are comments on the ticket made in this batch
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert one_by_one_calls == []  # the set-based path did it, no fallback
    # Tortoise types values_list() as tuples even with flat=True.
    emails = cast("list[str]", await Contact.all().values_list("email_normalized", flat=True))
    assert sorted(emails) == [
        "ann@example.com",
        "bob@example.com",
    ]
    ann_contact = await Contact.get(email_normalized="ann@example.com")
    tickets = await Ticket.all().order_by("id")
    assert [(t.number, t.title) for t in tickets] == [
        ("TT1", "Printer broken"),
        ("TT2", "Another question"),
    ]
    assert all(t.contact_id == ann_contact.id for t in tickets)  # type: ignore[attr-defined]
    comments = await Comment.filter(ticket_id=tickets[0].id).order_by("id")
    assert [c.body.strip() for c in comments] == ["Still broken.", "Me too."]
    assert comments[0].author_contact_id == ann_contact.id  # type: ignore[attr-defined]
    assert run.counts["contacts_created"] == 2 and run.counts["comments_added"] == 2
    # the log rows point at what each message created
    second = await MessageLog.get(message_id="second@customer.example")
    # Tortoise adds the <fk>_id attributes at runtime; the stubs do not declare them.
    assert second.comment_id == comments[0].id  # type: ignore[attr-defined]
    assert second.ticket_id == tickets[0].id  # type: ignore[attr-defined]
    assert f"comment {comments[0].id} added to TT1" in second.actions[1]["detail"]
    first = await MessageLog.get(message_id="first@customer.example")
    assert first.actions[0]["detail"] == f"created contact {ann_contact.id}"
    assert first.actions[1]["detail"] == "created ticket TT1"
    assert all(SEEN in f for f in imap_user.flags("INBOX").values())


@pytest.mark.parametrize("parse_processes", [0, 1], ids=["parsed-here", "parse-process"])
async def test_attachments_small_and_too_big_to_decode_ahead_are_stored_intact(
    db: Settings, imap_user: ImapUser, parse_processes: int
) -> None:
    # parse_processes=0 without a budget: parsed in this process (with one: in a process)
    db = replace(db, parse_processes=parse_processes,
                 message_budget_seconds=db.message_budget_seconds if parse_processes else 0)
    # given: one attachment decoded ahead (in the parse process) and one above that limit,
    # decoded later from the raw message the parse process did not send back
    small = bytes(range(256)) * 40
    big = os.urandom(DECODED_ATTACHMENTS + 1024)
    imap_user.append(
        "INBOX",
        [
            mail("Small scan", attachments=[("small.pdf", small, "application/pdf")]),
            mail("Big scan", attachments=[("big.bin", big, "application/octet-stream")]),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then: both tickets carry their file byte for byte
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    stored = {a.filename: a for a in await Attachment.all()}
    assert set(stored) == {"small.pdf", "big.bin"}
    files = policy_for(db)
    assert await read_bytes(stored["small.pdf"], files) == small
    assert stored["small.pdf"].size == len(small)
    assert await read_bytes(stored["big.bin"], files) == big
    assert stored["big.bin"].sha256 == hashlib.sha256(big).hexdigest()
    titles = {t.id: t.title for t in await Ticket.all()}
    assert titles[stored["big.bin"].ticket_id] == "Big scan"  # type: ignore[attr-defined]


async def test_subject_matching_sees_tickets_planned_earlier_in_the_batch_numbers_gapless(
    db: Settings, imap_user: ImapUser, one_by_one_calls: list[int]
) -> None:
    # given: a reply matched by its subject to a ticket the same batch opens
    imap_user.append(
        "INBOX",
        [
            mail("first case"),
            mail("VPN down", sender="Cy <cy@example.com>"),
            mail("second case", sender="Cy <cy@example.com>"),
            mail("Re: vpn DOWN", sender="Cy <cy@example.com>"),
            mail("third case"),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, 'subject contains "vpn"', [CONTACT, {**TICKET, "match_subject": True}])
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert one_by_one_calls == []
    numbers = dict(await Ticket.all().values_list("title", "number"))
    assert numbers == {
        "first case": "TT1",
        "VPN down": "TT2",
        "second case": "TT3",
        "third case": "TT4",
    }
    vpn = await Ticket.get(number="TT2")
    assert await Comment.filter(ticket_id=vpn.id).count() == 1
    assert await Contact.all().count() == 2
    # the next scan continues the sequence
    imap_user.append("INBOX", [mail("later")])
    await run_scan(scanner.id, settings=db)
    assert (await Ticket.get(title="later")).number == "TT5"


async def test_a_failing_message_is_quarantined_and_the_rest_of_its_batch_committed(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch, one_by_one_calls: list[int]
) -> None:
    # given: a reply whose processing fails (as a parser bug would), among good mail
    original = reply.extract_reply

    def fragile(text: str, html: str | None = None, **options: Any) -> Any:
        if "explode" in text:
            raise ValueError("cannot split this reply")
        return original(text, html, **options)

    # both the batch planner and the per-message action split replies through this module;
    # parsing stays in this process, where the patch is (a parse process would not see it)
    monkeypatch.setattr(create_or_update_ticket, "extract_reply", fragile)
    db = replace(db, parse_processes=0, message_budget_seconds=0)
    imap_user.append(
        "INBOX",
        [
            mail("Order missing", message_id="<order@customer.example>"),
            mail(
                "Re: Order missing",
                body="explode\n",
                headers={"In-Reply-To": "<order@customer.example>"},
            ),
            mail(
                "Re: Order missing",
                body="Any news?\n",
                headers={"In-Reply-To": "<order@customer.example>"},
            ),
            mail("Invoice wrong", sender="Dee <dee@example.com>"),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then: the batch was redone one by one; only the bad mail is quarantined
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert one_by_one_calls == [4]
    assert run.counts["errors"] == 1 and run.counts["tickets_created"] == 2
    bad = await MessageLog.get(outcome=MessageOutcome.QUARANTINED)
    assert bad.raw_message is not None
    assert "cannot split this reply" in bad.reason and b"explode" in bytes(bad.raw_message)
    assert bad.side_effects == SideEffects.DONE
    # gapless: the numbers the rolled-back batch had taken were given back
    numbers = cast("list[str]", await Ticket.all().values_list("number", flat=True))
    assert sorted(numbers) == ["TT1", "TT2"]
    order = await Ticket.get(title="Order missing")
    assert [c.body.strip() for c in await Comment.filter(ticket_id=order.id)] == ["Any news?"]
    assert await Contact.all().count() == 2
    assert await MessageLog.all().count() == 4
    flags = imap_user.flags("INBOX")
    assert SEEN not in flags[bad.uid] and sum(SEEN in f for f in flags.values()) == 3


async def test_a_message_whose_rules_fail_to_evaluate_is_quarantined_alone(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch, one_by_one_calls: list[int]
) -> None:
    # given: matching raises for one mail (as a rules-engine bug would), in one batch
    original = process._matching

    def fragile(rules: Any, email: Any, folder: str) -> Any:
        if email.subject == "poison":
            raise RuntimeError("rule evaluation broke")
        return original(rules, email, folder)

    monkeypatch.setattr(process, "_matching", fragile)
    # matching runs here, where the patch is (no budget: a budget needs a process)
    db = replace(db, parse_processes=0, message_budget_seconds=0)
    imap_user.append("INBOX", [mail("before"), mail("poison"), mail("after")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert one_by_one_calls == [3]
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["after", "before"]
    bad = await MessageLog.get(subject="poison")
    assert bad.outcome == MessageOutcome.QUARANTINED and "rule evaluation broke" in bad.reason
