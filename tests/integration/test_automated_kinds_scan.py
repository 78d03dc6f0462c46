"""Delivery reports and feedback (abuse) reports are automated mail: never a ticket, and a
delivery report does not fail the comment email it reports on (a bounce does)."""

from __future__ import annotations

import pytest

from mailscanner.models import (
    DeliveryAttempt,
    DeliveryStatus,
    MessageLog,
    MessageOutcome,
    OutboundEmail,
    ScanRunStatus,
    Ticket,
)
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import add_rule, make_scanner

pytestmark = pytest.mark.integration

DELIVERED = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    b"To: support@helpdesk.test\r\nSubject: Successful Mail Delivery Report\r\n"
    b"Message-ID: <dsn-ok@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
    b"--R\r\nContent-Type: text/plain\r\n\r\nYour message was successfully delivered.\r\n"
    b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
    b"Final-Recipient: rfc822; kim@customer.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
    b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    b"Message-ID: <TT1.c1.aaa111@helpdesk.test>\r\nSubject: [TT1] Printer\r\n--R--\r\n"
)
ABUSE = (
    b"From: Feedback Loop <fbl@isp.example>\r\nTo: abuse@helpdesk.test\r\n"
    b"Subject: Email Feedback Report for IP 192.0.2.25\r\nMessage-ID: <arf1@isp.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
    b"--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
    b"--F\r\nContent-Type: message/feedback-report\r\n\r\n"
    b"Feedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\n"
    b"Original-Rcpt-To: <kim@isp.example>\r\nSource-IP: 192.0.2.25\r\n"
    b"--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    b"Message-ID: <TT1.c1.aaa111@helpdesk.test>\r\nSubject: [TT1] Printer\r\n--F--\r\n"
)


async def test_delivery_and_feedback_reports_are_skipped_and_fail_nothing(
    db: Settings, imap_user: ImapUser
) -> None:
    # given: a comment email we sent, and a delivery report and an abuse report about it
    ticket = await Ticket.create(number="TT1", title="Printer")
    sent = await OutboundEmail.create(
        ticket=ticket,
        message_id="<TT1.c1.aaa111@helpdesk.test>",
        subject="[TT1] Printer",
        text_body="hi",
        status=DeliveryStatus.SENT,
    )
    imap_user.append("INBOX", [DELIVERED, ABUSE])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert run.counts["skipped"] == 2
    assert run.counts["tickets_created"] == 0 and run.counts["comments_added"] == 0
    logs = {log.subject: log for log in await MessageLog.all()}
    assert logs["Successful Mail Delivery Report"].outcome == MessageOutcome.SKIPPED
    assert logs["Successful Mail Delivery Report"].reason.startswith("delivery report")
    report = logs["Email Feedback Report for IP 192.0.2.25"]
    assert report.outcome == MessageOutcome.SKIPPED
    assert report.reason.startswith("feedback report")
    await sent.refresh_from_db()
    assert sent.status == DeliveryStatus.SENT and not sent.last_error


def _dsn(message_id: bytes, action: bytes, status: bytes) -> bytes:
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        b"To: support@helpdesk.test\r\nSubject: Delivery Status Notification (" + action
        + b")\r\nMessage-ID: <dsn-" + action + b"@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nDelivery to kim@customer.example: "
        + action + b"\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        b"Final-Recipient: rfc822; kim@customer.example\r\nAction: " + action
        + b"\r\nStatus: " + status + b"\r\n"
        b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: " + message_id + b"\r\nSubject: [TT1] Printer\r\n--R--\r\n"
    )


async def test_a_delay_warning_leaves_the_comment_email_sent_and_a_failure_fails_it(
    db: Settings, imap_user: ImapUser
) -> None:
    # given: two comment emails we sent; one is only delayed, the other failed for good
    ticket = await Ticket.create(number="TT1", title="Printer")
    delayed, failed = [
        await OutboundEmail.create(ticket=ticket, message_id=f"<TT1.c{n}.x@helpdesk.test>",
                                   subject="[TT1] Printer", text_body="hi",
                                   status=DeliveryStatus.SENT)
        for n in (1, 2)
    ]
    imap_user.append("INBOX", [_dsn(b"<TT1.c1.x@helpdesk.test>", b"delayed", b"4.4.7"),
                               _dsn(b"<TT1.c2.x@helpdesk.test>", b"failed", b"5.1.1")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_or_update_ticket"}])
    # when
    run = await run_scan(scanner.id, settings=db)
    # then: the MTA still retries the delayed one, so only the failed one shows BOUNCED
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert run.counts["tickets_created"] == 0
    await delayed.refresh_from_db()
    await failed.refresh_from_db()
    assert delayed.status == DeliveryStatus.SENT and not delayed.last_error
    assert failed.status == DeliveryStatus.BOUNCED and "5.1.1" in (failed.last_error or "")
    # and the failed one's delivery history says it bounced (resendCommentEmail may follow)
    [bounced] = await DeliveryAttempt.filter(outbound_email_id=failed.id)
    assert bounced.status == DeliveryStatus.BOUNCED and bounced.error == failed.last_error
    assert not await DeliveryAttempt.filter(outbound_email_id=delayed.id).exists()
