"""Scans that must not create what they should not: loops, bounces, re-reads; and failures."""

from __future__ import annotations

from typing import cast

import pytest

from mailscanner.models import (
    DeliveryStatus,
    Encryption,
    MessageLog,
    MessageOutcome,
    OutboundEmail,
    Scanner,
    ScanRunStatus,
    SideEffects,
    SmtpSettings,
    Ticket,
)
from mailscanner.scanning.connect import list_folders, test_connection
from mailscanner.scanning.pipeline import run_scan
from mailscanner.scanning.retry import RetryError, retry_message
from mailscanner.settings import Settings
from mailscanner.transport.errors import ErrorCode

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..scanning.helpers import add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

TICKET = {"type": "create_or_update_ticket"}
SEEN = b"\\Seen"

BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    b"To: support@helpdesk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <bounce1@mx.customer.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
    b"Final-Recipient: rfc822; gone@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    b"Message-ID: <TT1.c1.aaa111@helpdesk.test>\r\nSubject: [TT1] Printer\r\n"
    b"--B--\r\n"
)


async def test_auto_replies_bounces_and_our_own_mail_never_become_tickets(
    db: Settings, imap_user: ImapUser
) -> None:
    # given: a reply we sent for TT1, and the sender address the helpdesk uses
    ticket = await Ticket.create(number="TT1", title="Printer")
    sent = await OutboundEmail.create(
        ticket=ticket,
        message_id="<TT1.c1.aaa111@helpdesk.test>",
        subject="[TT1] Printer",
        text_body="hi",
        status=DeliveryStatus.SENT,
    )
    await SmtpSettings.create(sender_address="Support@Helpdesk.test")
    imap_user.append(
        "INBOX",
        [
            mail("Automatic reply: [TT1] Printer", headers={"Auto-Submitted": "auto-replied"}),
            BOUNCE,
            mail("[TT1] copy of our reply", sender="Helpdesk <support@helpdesk.test>"),
            mail("loop", message_id="<TT1.c2.bbb222@helpdesk.test>", sender="x@elsewhere.example"),
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_contact"}, TICKET])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert run.counts["skipped"] == 4 and run.counts["tickets_created"] == 0
    assert run.counts["comments_added"] == 0 and run.counts["contacts_created"] == 0
    logs = {log.subject: log for log in await MessageLog.all()}
    assert all(log.outcome == MessageOutcome.SKIPPED for log in logs.values())
    assert logs["Automatic reply: [TT1] Printer"].reason.startswith("auto-reply")
    assert "our sender address" in logs["[TT1] copy of our reply"].reason
    assert "our Message-ID" in logs["loop"].reason
    await sent.refresh_from_db()
    assert sent.status == DeliveryStatus.BOUNCED and "5.1.1" in sent.last_error
    assert all(SEEN in f for f in imap_user.flags("INBOX").values())


async def test_a_recreated_folder_is_reread_without_duplicating_tickets(
    db: Settings, imap_user: ImapUser
) -> None:
    old = [mail("one", message_id="<one@c.example>"), mail("two", message_id="<two@c.example>")]
    imap_user.append("Support", old)
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["Support"])
    assert (await run_scan(scanner.id, settings=db)).counts["tickets_created"] == 2
    first = await MessageLog.first()
    assert first is not None
    before = first.uidvalidity
    # the folder is deleted and re-created (a restore): same mails, new UIDVALIDITY, one new mail
    with imap_user.client() as c:
        c.delete_folder("Support")
    imap_user.append("Support", [*old, mail("three", message_id="<three@c.example>")])
    run = await run_scan(scanner.id, settings=db)
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    three = await MessageLog.filter(subject="three").first()
    assert three is not None and three.uidvalidity != before
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["one", "three", "two"]
    assert run.counts["skipped"] == 2 and run.counts["tickets_created"] == 1
    assert all(SEEN in f for f in imap_user.flags("Support").values())


async def test_a_failing_message_is_quarantined_the_scan_goes_on_and_retry_runs_it(
    db: Settings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", [mail("bad config"), mail("fine"), b"\r\n\r\n"])
    scanner = await make_scanner(imap_user)
    broken = await add_rule(scanner, 'subject contains "bad"', [{"type": "move_to_folder"}])
    await add_rule(scanner, "size > 0", [TICKET])
    run = await run_scan(scanner.id, settings=db)
    assert run.status == ScanRunStatus.SUCCEEDED
    assert run.counts["errors"] == 2 and run.counts["tickets_created"] == 1
    bad = await MessageLog.get(subject="bad config")
    assert bad.outcome == MessageOutcome.QUARANTINED and "folder" in bad.reason
    assert bad.raw_message is not None
    assert b"Subject: bad config" in bytes(bad.raw_message)
    unreadable = await MessageLog.get(subject="", outcome=MessageOutcome.QUARANTINED)
    assert "unreadable" in unreadable.reason
    # quarantined mail stays unread on the server, for a person to see
    flags = imap_user.flags("INBOX")
    assert SEEN not in flags[bad.uid] and SEEN in flags[(await MessageLog.get(subject="fine")).uid]
    # when the rule is fixed, a retry processes the kept message and applies its side effects
    broken.actions = [{"type": "move_to_folder", "folder": "Bad"}]
    await broken.save()
    retried = await retry_message(bad.id, settings=db)
    assert retried.outcome == MessageOutcome.PROCESSED and retried.side_effects == SideEffects.DONE
    assert imap_user.subjects("Bad") == ["bad config"]
    assert await MessageLog.filter(subject="bad config").count() == 1
    with pytest.raises(RetryError):
        await retry_message(retried.id, settings=db)
    still = await retry_message(unreadable.id, settings=db)
    assert still.outcome == MessageOutcome.QUARANTINED


async def test_a_scan_that_cannot_log_in_fails_with_a_human_error_and_counts_the_failure(
    db: Settings, imap_user: ImapUser
) -> None:
    scanner = await make_scanner(imap_user, password="wrong")
    await add_rule(scanner, "size > 0", [TICKET])
    run = await run_scan(scanner.id, settings=db)
    assert run.status == ScanRunStatus.FAILED and "rejected the login" in (run.error or "")
    await run_scan(scanner.id, settings=db)
    health = await Scanner.get(id=scanner.id)
    assert health.failure_count == 2 and health.last_error == run.error
    assert health.last_scan_at is not None and health.last_success_at is None


async def test_connection_test_reports_untrusted_certificates_and_lists_folders_without_validation(
    db: Settings, imap_user: ImapUser
) -> None:
    strict = await make_scanner(imap_user, validate_certificate=True)
    report = await test_connection(strict)
    assert not report.ok and report.error_code == ErrorCode.TLS_CERTIFICATE_UNTRUSTED
    assert "not trusted" in (report.error_message or "")
    relaxed = await make_scanner(imap_user, validate_certificate=False)
    report = await test_connection(relaxed)
    assert (
        report.ok
        and "INBOX" in [f.name for f in report.folders]
        and "IMAP4REV1" in report.capabilities
    )


async def test_starttls_scanner_scans(
    db: Settings, dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    imap_user.append("Été", [mail("bonjour")])
    scanner = await make_scanner(imap_user, encryption=Encryption.STARTTLS, port=dovecot.imap_port)
    assert "Été" in [f.name for f in await list_folders(scanner)]
    await add_rule(scanner, "size > 0", [TICKET], folders=["Été"])
    run = await run_scan(scanner.id, settings=db)
    assert run.status == ScanRunStatus.SUCCEEDED and run.counts["tickets_created"] == 1
