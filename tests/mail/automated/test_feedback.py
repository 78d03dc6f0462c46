"""Feedback (abuse) reports: ARF (RFC 5965), providers' loops and Amazon SES complaints."""

from __future__ import annotations

import json

from mailscanner.mail.automated import FeedbackInfo
from mailscanner.mail.parsing import parse_email
from mailscanner.rules_dsl import compile, parse

# Composed from RFC 5965 section 2 (the report's structure and field names).
ARF = (
    "From: <abusedesk@mailbox.example>\r\nTo: <abuse@helpdesk.example.com>\r\n"
    "Subject: FW: Earn money\r\nDate: Thu, 8 Mar 2024 14:00:00 EDT\r\n"
    "Message-ID: <arf.1@mailbox.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary="part1"\r\n\r\n'
    "--part1\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n\r\n"
    "This is an email abuse report for an email message received from IP\r\n"
    "192.0.2.1 on Thu, 8 Mar 2024 14:00:00 EDT.\r\n\r\n"
    "--part1\r\nContent-Type: message/feedback-report\r\n\r\n"
    "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
    "Original-Mail-From: <support@helpdesk.example.com>\r\n"
    "Original-Rcpt-To: <user@mailbox.example>\r\nArrival-Date: Thu, 8 Mar 2024 14:00:00 EDT\r\n"
    "Reported-Domain: helpdesk.example.com\r\nSource-IP: 192.0.2.1\r\n\r\n"
    "--part1\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    "From: <support@helpdesk.example.com>\r\nReceived: from mailserver.example by "
    "example.net\r\nTo: <user@mailbox.example>\r\nSubject: [TT7] Your ticket\r\n"
    "Message-ID: <tt7.c1@helpdesk.example.com>\r\n\r\nYour ticket was updated.\r\n--part1--\r\n"
)


def test_arf_report_is_feedback_with_its_fields() -> None:
    parsed = parse_email(ARF.encode())
    assert (parsed.kind, parsed.kind_reason) == (
        "feedback",
        "multipart/report; report-type=feedback-report",
    )
    assert parsed.feedback == FeedbackInfo(
        feedback_type="abuse",
        recipients=("user@mailbox.example",),
        original_mail_from="support@helpdesk.example.com",
        user_agent="SomeGenerator/1.0",
        source_ip="192.0.2.1",
        reported_domain="helpdesk.example.com",
        original_message_id="tt7.c1@helpdesk.example.com",
    )
    assert parsed.bounce is None and parsed.delivery_report is None


def test_a_feedback_part_inside_a_forward_is_still_feedback() -> None:
    raw = ARF.replace("multipart/report; report-type=feedback-report;", "multipart/mixed;")
    parsed = parse_email(raw.encode())
    assert (parsed.kind, parsed.kind_reason) == ("feedback", "message/feedback-report part")


def test_not_spam_and_auth_failure_types_are_reported_as_written() -> None:
    raw = ARF.replace("Feedback-Type: abuse", "Feedback-Type: auth-failure")
    feedback = parse_email(raw.encode()).feedback
    assert feedback is not None and feedback.feedback_type == "auth-failure"


JMRP = (
    "From: staff@hotmail.example\r\nTo: fbl@helpdesk.example.com\r\n"
    "Subject: complaint about message from 192.0.2.1\r\n"
    "X-HmXmrOriginalRecipient: <user@hotmail.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nThis is a complaint.\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
    "From: support@helpdesk.example.com\r\nMessage-ID: <tt8.c2@helpdesk.example.com>\r\n"
    "Subject: [TT8] update\r\n\r\nhello\r\n--b--\r\n"
)


def test_provider_complaint_with_the_message_attached_is_feedback() -> None:
    parsed = parse_email(JMRP.encode())
    assert parsed.kind == "feedback"
    assert parsed.feedback is not None
    assert parsed.feedback.recipients == ("user@hotmail.example",)
    assert parsed.feedback.original_message_id == "tt8.c2@helpdesk.example.com"


def test_a_person_writing_from_abuse_with_an_attachment_is_not_feedback() -> None:
    raw = JMRP.replace("X-HmXmrOriginalRecipient: <user@hotmail.example>\r\n", "")
    raw = raw.replace("staff@hotmail.example", "abuse@isp.example").replace(
        "complaint about message from 192.0.2.1", "Question about your invoice"
    )
    assert parse_email(raw.encode()).kind == "normal"


def test_amazon_ses_complaint_notification_is_feedback() -> None:
    note = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "kim@kund.example"}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "0000-ses", "commonHeaders": {"messageId": "<tt9@helpdesk.example>"}},
    }
    raw = (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\nTo: ops@helpdesk.example\r\n"
        "Subject: AWS Notification Message\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        + json.dumps(note)
        + "\r\n\r\n--\r\nIf you wish to stop receiving notifications from this topic...\r\n"
    )
    parsed = parse_email(raw.encode())
    assert parsed.kind == "feedback"
    assert parsed.feedback is not None
    assert parsed.feedback.recipients == ("kim@kund.example",)
    assert parsed.feedback.original_message_id == "tt9@helpdesk.example"


def test_rules_can_select_feedback_reports() -> None:
    parsed = parse_email(ARF.encode())
    assert compile(parse("kind is feedback"))(parsed) is True
    assert compile(parse('kind equals "bounce"'))(parsed) is False
