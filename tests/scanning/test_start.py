"""Where scanning starts, against the real Dovecot: with startFrom NOW the scans read exactly
the mail that arrived after activation, with DATE exactly the mail received on or after the
start date (INTERNALDATE, not UID order), for both scan types; activation's counts say so
beforehand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import cast

import pytest

from mailscanner.models import FolderState, MessageLog, Scanner, ScanType, StartFrom
from mailscanner.scanning.pipeline import run_scan
from mailscanner.scanning.start import has_started, scan_preview
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from .helpers import SEEN, TICKET, add_rule, mail, make_scanner
from .history import DATES, LATE_OLD, append_history

pytestmark = pytest.mark.integration

SCAN_TYPES = [ScanType.UNREAD, ScanType.ALL_SINCE_LAST_SCAN]


async def logged_uids(scanner: Scanner) -> list[int]:
    # Tortoise types values_list() as tuples even with flat=True.
    uids = await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    return sorted(cast("list[int]", uids))


def append_dated(user: ImapUser, items: list[tuple[str, datetime]]) -> list[int]:
    """APPEND mails with these INTERNALDATEs; their new UIDs."""
    before = set(user.uids("INBOX"))
    with user.client() as c:
        for subject, when in items:
            c.append("INBOX", mail(subject), msg_time=when)
    return sorted(set(user.uids("INBOX")) - before)


@pytest.mark.parametrize("scan_type", SCAN_TYPES, ids=lambda t: t.value)
async def test_now_reads_exactly_the_mail_that_arrived_after_activation(
    db: Settings, imap_user: ImapUser, scan_type: ScanType
) -> None:
    # given: 300 messages over six dates, and a scanner starting from now
    history = append_history(imap_user, 300)
    scanner = await make_scanner(imap_user, scan_type=scan_type, start_from=StartFrom.NOW)
    await add_rule(scanner, "size > 0", [TICKET])
    # when: it is activated (which records where each folder starts and counts)
    (inbox,) = await scan_preview(scanner, record_start=True)
    # then: nothing of what is there would be read, all of it is left alone
    unread = len(set(history.arrived) - history.seen)
    picks = unread if scan_type == ScanType.UNREAD else 300
    assert (inbox.messages, inbox.would_scan, inbox.left_alone) == (300, 0, picks)
    assert await has_started(scanner)
    # when: mail arrives before the first scan (one of it dated years ago: moved in from an
    # archive, it is still new to this mailbox), and the scans run
    new = append_dated(
        imap_user,
        [
            ("after activation", datetime.now(UTC)),
            ("old but new here", datetime(2019, 5, 1, 12, tzinfo=UTC)),
        ],
    )
    first = await run_scan(scanner.id, settings=db)
    later = append_dated(imap_user, [("later", datetime.now(UTC))])
    await run_scan(scanner.id, settings=db)
    # then: exactly the mail that arrived after activation was read
    assert first.status.value == "succeeded", first.error
    assert await logged_uids(scanner) == new + later
    assert all(SEEN not in f for uid, f in imap_user.flags("INBOX").items()
               if uid in history.arrived and uid not in history.seen)


@pytest.mark.parametrize("scan_type", SCAN_TYPES, ids=lambda t: t.value)
async def test_date_reads_exactly_the_mail_received_on_or_after_the_start_date(
    db: Settings, imap_user: ImapUser, scan_type: ScanType
) -> None:
    # given: old mail appended late sits among higher UIDs than mail after the date
    history = append_history(imap_user, 300)
    start = DATES[3]
    scanner = await make_scanner(
        imap_user, scan_type=scan_type, start_from=StartFrom.DATE, start_date=start
    )
    await add_rule(scanner, "size > 0", [TICKET])
    expected = history.uids_since(start, unseen_only=scan_type == ScanType.UNREAD)
    assert expected and any(u > expected[0] and d < start for u, d in history.arrived.items())
    # when: counted at activation, then scanned
    (inbox,) = await scan_preview(scanner, record_start=True)
    first = await run_scan(scanner.id, settings=db)
    # then: the count was right, and exactly the mail from the start date on was read
    assert inbox.would_scan == len(expected) and inbox.left_alone > 0
    assert inbox.first_to_scan is not None and inbox.first_to_scan.date() >= start
    assert first.status.value == "succeeded", first.error
    assert await logged_uids(scanner) == expected
    # when: new mail comes, one of it with an arrival date before the start date
    new = append_dated(
        imap_user,
        [("new", datetime.now(UTC)), ("moved in, older", datetime(2025, 1, 1, 12, tzinfo=UTC))],
    )
    await run_scan(scanner.id, settings=db)
    # then: only mail received on or after the start date, ever
    assert await logged_uids(scanner) == expected + new[:1]


async def test_now_without_activation_starts_at_the_first_read_and_survives_a_recreated_folder(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("Support", [mail("before")])
    scanner = await make_scanner(
        imap_user, scan_type=ScanType.ALL_SINCE_LAST_SCAN, start_from=StartFrom.NOW
    )
    await add_rule(scanner, "size > 0", [TICKET], folders=["Support"])
    # "run now" before any activation: the first read is where it starts
    await run_scan(scanner.id, settings=db)
    assert await logged_uids(scanner) == []
    state = await FolderState.get(scanner_id=scanner.id, folder="Support")
    assert state.start_uid == 2 and state.last_uid == 1
    imap_user.append("Support", [mail("after")])
    await run_scan(scanner.id, settings=db)
    assert await logged_uids(scanner) == [2]
    # the folder is deleted and re-created with old and new mail: all of it is left alone
    with imap_user.client() as c:
        c.delete_folder("Support")
    imap_user.append("Support", [mail("restored 1"), mail("restored 2")])
    await run_scan(scanner.id, settings=db)
    assert await MessageLog.filter(scanner_id=scanner.id).count() == 1
    imap_user.append("Support", [mail("new after restore")])
    await run_scan(scanner.id, settings=db)
    assert sorted(cast("list[str]", await MessageLog.all().values_list("subject", flat=True))) == [
        "after", "new after restore"
    ]


async def test_the_preview_counts_every_folder_and_reports_a_missing_one(
    db: Settings, imap_user: ImapUser
) -> None:
    history = append_history(imap_user, 120)
    imap_user.append("Billing", [mail("invoice")], flags=(SEEN,))
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["INBOX", "Billing", "Gone"])
    inbox, billing, gone = await scan_preview(scanner)
    unread = len(set(history.arrived) - history.seen)
    assert (inbox.messages, inbox.would_scan, inbox.left_alone) == (120, unread, 0)
    assert inbox.summary == f"120 messages, {unread} would be scanned"
    assert inbox.oldest is not None and inbox.oldest.date() == LATE_OLD
    assert inbox.newest is not None and inbox.newest.date() == DATES[-1]
    assert (billing.messages, billing.would_scan) == (1, 0)
    assert gone.error is not None and "Gone" in gone.error
    # a preview records nothing: the scanner has not started
    assert not await has_started(scanner) and not await FolderState.exists()
    assert date(2026, 1, 1) < DATES[0]
