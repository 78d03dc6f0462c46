"""Successful delivery notifications (DSN delivered/relayed/expanded) are delivery reports."""

from __future__ import annotations

import json

import pytest

from mailscanner.mail.automated import DeliveryReportInfo
from mailscanner.mail.parsing import parse_email


def dsn(*groups: tuple[str, str, str], sender: str = "MAILER-DAEMON@mx.kund.example") -> bytes:
    per_recipient = "".join(
        f"\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: {action}\r\nStatus: {status}\r\n"
        for rcpt, action, status in groups
    )
    return (
        f"From: Mail Delivery System <{sender}>\r\nTo: support@helpdesk.example.com\r\n"
        "Subject: Successful Mail Delivery Report\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="d"\r\n\r\n'
        "--d\r\nContent-Type: text/plain\r\n\r\nYour message was delivered.\r\n"
        "--d\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.kund.example\r\n{per_recipient}"
        "--d\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <tt3.c1@helpdesk.example.com>\r\nSubject: [TT3]\r\n--d--\r\n"
    ).encode()


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_dsn_reporting_success_is_a_delivery_report(action: str) -> None:
    parsed = parse_email(dsn(("kim@kund.example", action, "2.0.0")))
    assert parsed.kind == "delivery_report"
    assert parsed.kind_reason == f"delivery status notification: {action}"
    assert parsed.delivery_report == DeliveryReportInfo(
        ("kim@kund.example",), action, "2.0.0", "tt3.c1@helpdesk.example.com"
    )
    assert parsed.bounce is None


def test_one_failed_recipient_makes_the_report_a_bounce() -> None:
    parsed = parse_email(
        dsn(("ok@kund.example", "delivered", "2.0.0"), ("gone@kund.example", "failed", "5.1.1"))
    )
    assert parsed.kind == "bounce" and parsed.delivery_report is None
    assert parsed.bounce is not None and parsed.bounce.recipients == ("gone@kund.example",)


def test_a_delayed_recipient_is_still_reported_as_a_bounce_but_marked_delayed() -> None:
    parsed = parse_email(dsn(("slow@kund.example", "delayed", "4.4.7")))
    assert parsed.kind == "bounce"
    assert parsed.bounce is not None and parsed.bounce.delayed


def test_a_report_with_a_delayed_and_a_failed_recipient_is_a_failure() -> None:
    parsed = parse_email(
        dsn(("slow@kund.example", "delayed", "4.4.7"), ("gone@kund.example", "failed", "5.1.1"))
    )
    assert parsed.bounce is not None and not parsed.bounce.delayed


def test_a_success_report_inside_a_mixed_container_is_a_delivery_report() -> None:
    raw = dsn(("kim@kund.example", "relayed", "2.0.0")).replace(
        b"multipart/report; report-type=delivery-status", b"multipart/mixed"
    )
    assert parse_email(raw).kind == "delivery_report"


def test_amazon_ses_delivery_notification_is_a_delivery_report() -> None:
    note = {
        "notificationType": "Delivery",
        "delivery": {"recipients": ["kim@kund.example"], "smtpResponse": "250 2.6.0 Message ok"},
        "mail": {"headers": [{"name": "Message-ID", "value": "<tt4@helpdesk.example>"}]},
    }
    envelope = {"Type": "Notification", "Message": json.dumps(note)}  # "email-json" form
    raw = (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\n"
        "Subject: AWS Notification Message\r\n\r\n" + json.dumps(envelope)
    ).encode()
    parsed = parse_email(raw)
    assert parsed.kind == "delivery_report"
    assert parsed.delivery_report == DeliveryReportInfo(
        ("kim@kund.example",), "delivered", "2.6.0", "tt4@helpdesk.example"
    )
