"""The per-message processing budget (issue 13 item 2) against the real Dovecot: a message
that takes longer than its budget to read is quarantined (TIMEOUT), stays unread on the
server, and the next message of the same scan still becomes a ticket."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from typing import cast

import pytest

from mailscanner.models import MessageLog, MessageOutcome, ScanRunStatus, Ticket
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from .helpers import CONTACT, SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

# Well below what the big message needs to be read (its HTML body becomes text for the
# ticket), far above what a short mail needs (a few milliseconds).
BUDGET_S = 0.5


def slow_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Bob Example <bob@example.com>"
    msg["To"] = "support@helpdesk.test"
    msg["Subject"] = "slow"
    msg["Message-ID"] = "<slow@customer.example>"
    # Unclosed formatting tags: the costliest HTML to sanitise per byte (bench/parse.py),
    # still linear; about 1.5 s of CPU for these 900 KB.
    msg.set_content("deep" + "".join(f'<b id="b{i}">x<p>y' for i in range(40_000)),
                    subtype="html")
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("parse_processes", [0, 1], ids=["no-parse-processes", "one"])
async def test_a_message_past_its_budget_is_quarantined_unread_and_the_scan_goes_on(
    db: Settings, imap_user: ImapUser, parse_processes: int
) -> None:
    db = replace(db, parse_processes=parse_processes, message_budget_seconds=BUDGET_S)
    # given
    imap_user.append("INBOX", [mail("before"), slow_mail(), mail("after")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then: the scan finished, and the mail after the slow one became a ticket
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["after", "before"]
    slow = await MessageLog.get(subject="slow")
    assert slow.outcome == MessageOutcome.QUARANTINED
    assert slow.reason is not None and slow.reason.startswith("TIMEOUT")
    assert slow.raw_message is not None and b"deep" in slow.raw_message
    assert slow.sender == "bob@example.com"
    flags = imap_user.flags("INBOX")
    uids = sorted(flags)
    assert [SEEN in flags[u] for u in uids] == [True, False, True]
    assert (run.counts or {}).get("errors") == 1
    # and a second scan leaves it alone: never processed twice
    again = await run_scan(scanner.id, settings=db)
    assert again.status == ScanRunStatus.SUCCEEDED
    assert await Ticket.all().count() == 2
    assert await MessageLog.filter(subject="slow").count() == 1


async def test_retrying_a_timed_out_message_reads_it_within_the_budget_again(
    db: Settings, imap_user: ImapUser
) -> None:
    from mailscanner.scanning.retry import retry_message

    # given: the slow message quarantined by a scan with a tight budget
    imap_user.append("INBOX", [slow_mail()])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [CONTACT, TICKET])
    await run_scan(scanner.id, settings=replace(db, message_budget_seconds=BUDGET_S))
    slow = await MessageLog.get(subject="slow")
    # when: retried with the same budget, it is read in a parse process and stays put
    same = await retry_message(slow.id, settings=replace(db, message_budget_seconds=BUDGET_S))
    assert same.outcome == MessageOutcome.QUARANTINED
    assert same.reason is not None and same.reason.startswith("TIMEOUT")
    assert await Ticket.all().count() == 0
    # and after the admin raised the budget, the retry makes its ticket
    done = await retry_message(slow.id, settings=replace(db, message_budget_seconds=60))
    assert done.outcome == MessageOutcome.PROCESSED
    assert cast("list[str]", await Ticket.all().values_list("title", flat=True)) == ["slow"]
