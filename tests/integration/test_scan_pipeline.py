"""Scans against the real Dovecot: selection by scan type, folders, rule order, the actions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import cast

import pytest

from mailscanner.models import (
    Account,
    Attachment,
    Comment,
    CommentSource,
    Contact,
    FolderState,
    MessageLog,
    MessageOutcome,
    Scanner,
    ScanRunStatus,
    ScanType,
    SideEffects,
    StartFrom,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.storage.attachments import policy_for, read_bytes

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration


async def test_unread_scan_reads_only_unseen_mail_and_marks_it_read(
    db: Settings, imap_user: ImapUser
) -> None:
    # given
    imap_user.append("INBOX", [mail("already read")], flags=(SEEN,))
    imap_user.append("INBOX", [mail("new one"), mail("new two")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, 'subject contains "new"', [TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["new one", "new two"]
    assert run.counts["seen"] == 2 and run.counts["tickets_created"] == 2
    assert run.processed == run.total == 2
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())
    assert await MessageLog.filter(side_effects=SideEffects.PENDING).count() == 0
    again = await run_scan(scanner.id, settings=db)
    assert again.counts["seen"] == 0 and await Ticket.all().count() == 2
    refreshed = await Scanner.get(id=scanner.id)
    assert refreshed.last_success_at is not None and refreshed.failure_count == 0


async def test_all_since_last_scan_reads_read_mail_once_and_then_only_newer_uids(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("first")], flags=(SEEN,))
    scanner = await make_scanner(imap_user, scan_type=ScanType.ALL_SINCE_LAST_SCAN)
    await add_rule(scanner, "size > 0", [TICKET])
    assert (await run_scan(scanner.id, settings=db)).counts["tickets_created"] == 1
    # a message marked unread again by a person is NOT re-read: only UIDs above the checkpoint
    with imap_user.client() as c:
        c.select_folder("INBOX")
        c.remove_flags(c.search("ALL"), [SEEN])
    imap_user.append("INBOX", [mail("second")], flags=(SEEN,))
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["seen"] == 1
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["first", "second"]
    state = await FolderState.get(scanner_id=scanner.id, folder="INBOX")
    assert state.last_uid == max(imap_user.uids("INBOX"))


async def test_first_all_since_scan_honours_start_date(db: Settings, imap_user: ImapUser) -> None:
    with imap_user.client() as c:
        c.append("INBOX", mail("ancient"), msg_time=datetime(2020, 1, 1, tzinfo=UTC))
        c.append("INBOX", mail("recent"), msg_time=datetime(2026, 11, 1, tzinfo=UTC))
    scanner = await make_scanner(
        imap_user,
        scan_type=ScanType.ALL_SINCE_LAST_SCAN,
        start_from=StartFrom.DATE,
        start_date=date(2026, 1, 1),
    )
    await add_rule(scanner, "size > 0", [TICKET])
    await run_scan(scanner.id, settings=db)
    assert cast("list[str]", await Ticket.all().values_list("title", flat=True)) == ["recent"]


async def test_two_folders_each_with_its_own_rule(db: Settings, imap_user: ImapUser) -> None:
    imap_user.append("INBOX", [mail("inbox mail")])
    imap_user.append("Support/Billing", [mail("billing mail")])
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner, "size > 0", [{"type": "create_or_update_ticket", "set": {"category": "General"}}]
    )
    await add_rule(
        scanner,
        "size > 0",
        [{"type": "create_or_update_ticket", "set": {"category": "Billing"}}],
        folders=["Support/Billing"],
    )
    run = await run_scan(scanner.id, settings=db)
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert {t.title: t.category for t in await Ticket.all()} == {
        "inbox mail": "General",
        "billing mail": "Billing",
    }
    assert {s.folder for s in await FolderState.filter(scanner_id=scanner.id)} == {
        "INBOX",
        "Support/Billing",
    }


async def test_rules_run_in_order_and_the_first_match_stops_unless_told_to_continue(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("invoice 42"), mail("question")])
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner,
        'subject contains "invoice"',
        [{"type": "create_contact"}],
        continue_after_match=True,
        name="contacts",
    )
    await add_rule(
        scanner,
        'subject contains "invoice"',
        [{"type": "move_to_folder", "folder": "Invoices"}],
        name="invoices",
    )
    await add_rule(scanner, "size > 0", [TICKET], name="catch-all")
    await run_scan(scanner.id, settings=db)
    # "invoice 42": contact (continue) then moved (stop: the catch-all made no ticket)
    assert cast("list[str]", await Ticket.all().values_list("title", flat=True)) == ["question"]
    assert imap_user.subjects("Invoices") == ["invoice 42"]
    assert imap_user.subjects("INBOX") == ["question"]
    log = await MessageLog.get(subject="invoice 42").prefetch_related("rule")
    assert [a["type"] for a in log.actions] == ["create_contact", "move_to_folder"]
    assert log.rule is not None and log.rule.name == "contacts"


async def test_unmatched_mail_is_logged_and_marked_read_but_creates_nothing(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("hello")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, 'subject contains "nothing like this"', [TICKET])
    run = await run_scan(scanner.id, settings=db)
    log = await MessageLog.get(scanner_id=scanner.id)
    assert log.outcome == MessageOutcome.NO_MATCH and log.side_effects == SideEffects.DONE
    assert run.counts["matched"] == 0 and await Ticket.all().count() == 0
    assert all(SEEN in f for f in imap_user.flags("INBOX").values())


async def test_create_contact_links_the_account_by_domain_and_is_case_insensitive(
    db: Settings, imap_user: ImapUser
) -> None:
    acme = await Account.create(name="Acme", domain="acme.com")
    await Contact.create(name="Old Bob", email="bob@acme.com")
    imap_user.append(
        "INBOX",
        [mail("a", sender="Carol Jones <Carol@ACME.com>"), mail("b", sender="BOB@acme.com")],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_contact"}])
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["contacts_created"] == 1
    carol = await Contact.get(email_normalized="carol@acme.com")
    assert carol.name == "Carol Jones" and carol.account_id == acme.id  # type: ignore[attr-defined]
    assert await Contact.all().count() == 2


async def test_ticket_is_created_with_configured_fields_contact_account_and_attachments(
    db: Settings, imap_user: ImapUser
) -> None:
    acme = await Account.create(name="Acme", domain="acme.com")
    imap_user.append(
        "INBOX",
        [
            mail(
                "Printer broken",
                sender="Dan <dan@acme.com>",
                body="It jams.\n",
                attachments=[("photo.png", b"\x89PNG fake", "image/png")],
            )
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner,
        "size > 0",
        [{"type": "create_or_update_ticket", "set": {"priority": "high", "status": "in_progress"}}],
    )
    await run_scan(scanner.id, settings=db)
    ticket = await Ticket.get().prefetch_related("contact")
    assert ticket.number == "TT1" and ticket.title == "Printer broken"
    assert ticket.description.strip() == "It jams."
    assert ticket.priority == TicketPriority.HIGH and ticket.status == TicketStatus.IN_PROGRESS
    assert ticket.contact is not None and ticket.contact.email == "dan@acme.com"
    assert ticket.account_id == acme.id  # type: ignore[attr-defined]
    attachments = await Attachment.filter(ticket_id=ticket.id).order_by("id")
    files = policy_for(db)
    assert [(a.filename, await read_bytes(a, files)) for a in attachments] == [
        ("photo.png", b"\x89PNG fake")
    ]


async def test_replies_become_comments_found_by_number_message_id_or_regex_and_reopen(
    db: Settings, imap_user: ImapUser
) -> None:
    ticket = await Ticket.create(number="TT7", title="Old case", status=TicketStatus.CLOSED)
    other = await Ticket.create(number="TT8", title="Other case")
    third = await Ticket.create(number="TT9", title="Third case")
    reply = "Thanks, works now.\n\n##- Please type your reply above this line -##\nold text\n"
    imap_user.append(
        "INBOX",
        [
            mail("Re: [TT7] Old case", body=reply, message_id="<r1@customer.example>"),
            mail(
                "no number here",
                message_id="<r2@customer.example>",
                headers={"In-Reply-To": "<TT8.c3.abc123@helpdesk.test>"},
            ),
            mail("Case ref #9", body="see case\n"),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner,
        "size > 0",
        [{"type": "create_or_update_ticket", "reopen": True, "regex": r"ref #(\d+)"}],
    )
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["comments_added"] == 3 and run.counts["tickets_created"] == 0
    first = await Comment.get(ticket_id=ticket.id)
    assert first.body.strip() == "Thanks, works now." and first.source == CommentSource.EMAIL
    assert first.message_id == "r1@customer.example" and "old text" in first.quoted_text
    assert (await Ticket.get(id=ticket.id)).status == TicketStatus.OPEN
    assert await Comment.filter(ticket_id=other.id).count() == 1
    assert await Comment.filter(ticket_id=third.id).count() == 1


async def test_the_same_message_id_is_never_added_twice_to_a_ticket(
    db: Settings, imap_user: ImapUser
) -> None:
    await Ticket.create(number="TT3", title="Case")
    same = mail("Re: TT3", message_id="<dup@customer.example>")
    imap_user.append("INBOX", [same, same])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    await run_scan(scanner.id, settings=db)
    assert await Comment.all().count() == 1
    outcomes = [a["outcome"] for log in await MessageLog.all() for a in log.actions]
    assert sorted(outcomes) == ["done", "duplicate"]


async def test_match_subject_joins_mail_with_the_same_subject(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("VPN down"), mail("Re:  vpn DOWN")])
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner, "size > 0", [{"type": "create_or_update_ticket", "match_subject": True}]
    )
    await run_scan(scanner.id, settings=db)
    assert await Ticket.all().count() == 1 and await Comment.all().count() == 1


async def test_move_and_delete_change_the_server(db: Settings, imap_user: ImapUser) -> None:
    imap_user.append("INBOX", [mail("spam offer"), mail("move me"), mail("keep")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, 'subject contains "spam"', [{"type": "delete_message"}])
    await add_rule(
        scanner, 'subject contains "move"', [{"type": "move_to_folder", "folder": "Archive/2026"}]
    )
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["deleted"] == 1 and run.counts["moved"] == 1
    assert imap_user.subjects("INBOX") == ["keep"]
    assert imap_user.subjects("Archive/2026") == ["move me"]
    assert all(SEEN in f for f in imap_user.flags("Archive/2026").values())


async def test_progress_events_are_published_on_the_run_channel(
    db: Settings, imap_user: ImapUser
) -> None:
    from mailscanner import events
    from mailscanner.models import ScanRun

    imap_user.append("INBOX", [mail(f"m{i}") for i in range(3)])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    run = await ScanRun.create(scanner=scanner, trigger="manual")
    received: list[dict[str, object]] = []
    stream = events.subscribe(events.scan_run_channel(run.id))

    async def collect() -> None:
        async for event in stream:
            received.append(event)
            if event["status"] in ("succeeded", "failed"):
                return

    import asyncio

    collector = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    await run_scan(scanner.id, run.id, settings=db)
    await asyncio.wait_for(collector, 5)
    assert received[0]["status"] == "running"
    assert received[-1] == {"processed": 3, "total": 3, "status": "succeeded",
                            "counts": received[-1]["counts"]}
    assert received[-1]["counts"]["tickets_created"] == 3  # type: ignore[index]


async def test_the_same_mail_in_two_scanned_folders_makes_one_ticket(
    db: Settings, imap_user: ImapUser
) -> None:
    same = mail("copied around", message_id="<copy@customer.example>")
    imap_user.append("INBOX", [same])
    imap_user.append("Support", [same])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX", "Support"])
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["tickets_created"] == 1 and await Ticket.all().count() == 1
    assert run.counts["skipped"] == 1
    # the copy is logged as one message seen twice, not acted on (duplicates.py)
    logs = {log.folder: log for log in await MessageLog.all()}
    assert [a["outcome"] for a in logs["INBOX"].actions] == ["done"]
    assert logs["Support"].outcome == MessageOutcome.SKIPPED
    assert logs["Support"].reason == "the same message was processed in INBOX"
    assert logs["Support"].actions == []
    assert all(SEEN in flags for flags in imap_user.flags("Support").values())
