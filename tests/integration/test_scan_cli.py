"""`mailscanner scan SCANNER`: the command's output and exit code."""

from __future__ import annotations

import asyncio

import pytest

from mailscanner.cli import build_parser
from mailscanner.cli.dry_run import dry_run_command
from mailscanner.cli.scan import WAIT_POLL_SECONDS, scan_command
from mailscanner.models import ScanRun, Ticket
from mailscanner.settings import Settings
from mailscanner.workers.scan import scanner_lock

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import add_rule, mail, make_scanner

pytestmark = pytest.mark.integration


def test_the_scan_command_is_registered() -> None:
    args = build_parser().parse_args(["scan", "Support mailbox"])
    assert args.scanner == "Support mailbox" and args.func.__module__ == "mailscanner.cli.scan"


async def test_scan_by_name_prints_the_counts_and_exits_zero(
    db: Settings, imap_user: ImapUser, capsys: pytest.CaptureFixture[str]
) -> None:
    imap_user.append("INBOX", [mail("help"), mail("more help")])
    scanner = await make_scanner(imap_user, name="Support mailbox")
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    assert await scan_command("Support mailbox", False, db) == 0
    out = capsys.readouterr().out
    assert "Succeeded" in out and "tickets created" in out
    assert await Ticket.all().count() == 2
    assert (await ScanRun.get()).trigger == "cli"


async def test_a_missing_rule_folder_is_a_warning_and_the_scan_still_exits_zero(
    db: Settings, imap_user: ImapUser, capsys: pytest.CaptureFixture[str]
) -> None:
    imap_user.append("INBOX", [mail("help")])
    scanner = await make_scanner(imap_user, name="Support mailbox")
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}],
                   folders=["Gone", "INBOX"], name="Everything")
    assert await scan_command("Support mailbox", True, db) == 0
    err = capsys.readouterr().err
    assert 'warning: The folder "Gone" does not exist' in err and '"Everything"' in err
    assert await Ticket.all().count() == 1


async def test_a_busy_mailbox_is_reported_at_once_or_scanned_after_the_other_scan_with_wait(
    db: Settings, imap_user: ImapUser, capsys: pytest.CaptureFixture[str]
) -> None:
    imap_user.append("INBOX", [mail("help")])
    scanner = await make_scanner(imap_user, name="Support mailbox")
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    # given another scan holding the mailbox's scan lock
    held, release = asyncio.Event(), asyncio.Event()

    async def other_scan() -> None:
        async with scanner_lock(scanner.id):
            held.set()
            await release.wait()

    other = asyncio.ensure_future(other_scan())
    await held.wait()
    # when `mailscanner scan` runs without --wait: it reports the other scan, does nothing
    assert await scan_command("Support mailbox", True, db) == 1
    assert "is being scanned right now" in capsys.readouterr().err
    assert not await ScanRun.exists()
    # when it runs with --wait, it waits for the other scan to end, then scans
    waiting = asyncio.ensure_future(scan_command("Support mailbox", True, db, wait=120))
    await asyncio.sleep(2 * WAIT_POLL_SECONDS)
    assert not waiting.done()
    release.set()
    await other
    assert await waiting == 0
    assert await Ticket.all().count() == 1


async def test_a_failed_scan_by_id_exits_non_zero_with_the_reason(
    db: Settings, imap_user: ImapUser, capsys: pytest.CaptureFixture[str]
) -> None:
    scanner = await make_scanner(imap_user, password="nope")
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    assert await scan_command(str(scanner.id), True, db) == 1
    assert "rejected the login" in capsys.readouterr().err
    assert await scan_command("no such scanner", True, db) == 2


async def test_a_dry_run_prints_what_the_scan_would_do_and_changes_nothing(
    db: Settings, imap_user: ImapUser, capsys: pytest.CaptureFixture[str]
) -> None:
    imap_user.append("INBOX", [mail("Printer on fire"), mail("Invoice 7")])
    scanner = await make_scanner(imap_user, name="Support mailbox")
    await add_rule(scanner, 'subject contains "invoice"', [{"type": "delete_message"}])
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    args = build_parser().parse_args(["scan", "Support mailbox", "--dry-run", "--limit", "5"])
    assert args.dry_run and args.limit == 5 and args.folder is None
    assert await dry_run_command("Support mailbox", None, 5, False, db) == 0
    out = capsys.readouterr().out
    assert "would create ticket TT1" in out and "would delete" in out
    assert "2 message(s)" in out and "nothing was changed" in out
    assert not await Ticket.exists() and not await ScanRun.exists()
    assert imap_user.uids("INBOX") == [1, 2]
    # a folder the mailbox lacks: a one-line error and exit code 2
    assert await dry_run_command("Support mailbox", "Nope", 5, False, db) == 2
    assert "folder" in capsys.readouterr().err
