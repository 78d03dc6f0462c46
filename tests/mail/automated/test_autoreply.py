"""classify: auto-replies and bounces are recognised; human mail (also via lists) is not."""

from __future__ import annotations

import pytest

from mailscanner.mail.automated import BounceInfo, classify
from mailscanner.mail.parsing import parse_email


def mail(headers: str, body: str = "Hello", subject: str = "Question about my invoice") -> bytes:
    base = (
        f"From: Kim Berg <kim@example.com>\nTo: support@helpdesk.example.com\nSubject: {subject}\n"
    )
    return (base + headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        (
            "Auto-Submitted: auto-generated; owner-email=x@y",
            "Auto-Submitted: auto-generated; owner-email=x@y",
        ),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Vacation", "X-Autorespond: Vacation"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: DR, OOF", "X-Auto-Response-Suppress: DR, OOF"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("Return-Path: <>", "empty Return-Path <>"),
    ],
)
def test_auto_reply_headers(header: str, reason: str) -> None:
    assert classify(parse_email(mail(header))) == ("auto_reply", reason, None)


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "X-Auto-Response-Suppress: DR, RN, NRN",
        "Precedence: list\nList-Id: Users <users.lists.example.org>",
        "Precedence: bulk\nList-Id: <announce.example.org>",
        "Return-Path: <kim@example.com>",
        "X-Autoreply: no",
    ],
)
def test_human_mail_stays_normal(header: str) -> None:
    assert classify(parse_email(mail(header))) == ("normal", "", None)


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: [TT12] Printer",
        "Automatic reply: [TT12] Printer",
        "Autosvar: Printer",
        "Frånvaro: Printer",
        "Abwesenheitsnotiz: Drucker",
        "Automatische Antwort: Drucker",
        "Réponse automatique : Imprimante",
        "Absence : Imprimante",
        "Respuesta automática: Impresora",
        "Fuera de la oficina: Impresora",
        "Poissa: Tulostin",
        "Automaattinen vastaus: Tulostin",
        "Fraværende: Printer",
        "Afwezig: Printer",
        "Automatisch antwoord: Printer",
        "Risposta automatica: Stampante",
        "Resposta automática: Impressora",
        "Odpowiedź automatyczna: Drukarka",
        "Автоматический ответ: Принтер",
        "Out of Office AutoReply: Printer",
        "Kim Berg is out of the office",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    kind, reason, bounce = classify(parse_email(mail("", subject=subject)))
    assert (kind, bounce) == ("auto_reply", None)
    assert reason == f"out-of-office subject: {subject}"


@pytest.mark.parametrize(
    "subject",
    [
        "Out of office next week - please cover TT12",
        "Re: Automatic reply settings do not work",
        "Absence request for Monday",
        "Vacation days",
        "Question about my invoice",
    ],
)
def test_human_subjects_that_mention_absence_stay_normal(subject: str) -> None:
    assert classify(parse_email(mail("", subject=subject)))[0] == "normal"


def test_mailer_daemon_sender_is_a_bounce_with_details_from_text() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"Subject: Mail delivery failed\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"  <gone@kund.example.se>: 550 5.1.1 user unknown\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n"
        b"Message-ID: <tt9.c1@helpdesk.example.com>\r\n"
    )
    kind, reason, bounce = classify(parse_email(raw))
    assert (kind, reason) == ("bounce", "sender mailer-daemon")
    assert bounce == BounceInfo(("gone@kund.example.se",), "5.1.1", "tt9.c1@helpdesk.example.com")


def test_null_return_path_with_failure_subject_is_a_bounce() -> None:
    raw = mail(
        "Return-Path: <>",
        body="Your message to a@b.example could not be delivered.",
        subject="Unzustellbar: Rechnung",
    )
    kind, reason, bounce = classify(parse_email(raw))
    assert (kind, reason) == ("bounce", "empty Return-Path with delivery-failure subject")
    assert bounce is not None and bounce.recipients == ("a@b.example",)


def test_read_receipt_is_an_auto_reply_not_a_bounce() -> None:
    raw = mail(
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="r"',
        body="--r\r\nContent-Type: text/plain\r\n\r\nRead.\r\n--r--\r\n",
        subject="Read: TT12",
    )
    assert classify(parse_email(raw))[:2] == (
        "auto_reply",
        "read receipt (disposition-notification)",
    )


def test_parse_email_fills_kind_from_classify() -> None:
    parsed = parse_email(mail("Precedence: junk"))
    assert (parsed.kind, parsed.kind_reason, parsed.bounce) == (
        "auto_reply",
        "Precedence: junk",
        None,
    )


def test_x_failed_recipients_header_names_the_bounced_addresses() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.com>\r\n"
        b"X-Failed-Recipients: a@kund.example, b@kund.example\r\n"
        b"Subject: Mail delivery failed\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its recipients.\r\n"
    )
    bounce = classify(parse_email(raw))[2]
    assert bounce == BounceInfo(("a@kund.example", "b@kund.example"), None, None)


def test_dsn_lists_only_the_failed_recipients() -> None:
    dsn = (
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; ok@kund.example\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; gone@kund.example\nAction: failed\nStatus: 5.2.2\n"
    )
    body = (
        "--r\nContent-Type: text/plain\n\nMailbox full.\n"
        f"--r\nContent-Type: message/delivery-status\n\n{dsn}\n--r--\n"
    )
    raw = mail('Content-Type: multipart/report; report-type=delivery-status; boundary="r"', body)
    assert classify(parse_email(raw))[2] == BounceInfo(("gone@kund.example",), "5.2.2", None)


def test_classifying_ordinary_mail_reads_headers_only() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="m"',
        "--m\nContent-Type: text/plain\n\nhi\n--m--\n",
    )
    parsed = parse_email(raw)
    assert parsed.kind == "normal"
    assert "_tree" not in vars(parsed)


def test_delivery_status_part_in_a_mixed_container_is_a_bounce() -> None:
    body = (
        "--m\nContent-Type: text/plain\n\nCould not deliver.\n"
        "--m\nContent-Type: message/delivery-status\n\n"
        "Final-Recipient: rfc822; x@kund.example\nAction: failed\nStatus: 5.0.0\n--m--\n"
    )
    raw = mail("Return-Path: <>\nContent-Type: multipart/mixed; boundary=m", body, subject="Notice")
    kind, reason, bounce = classify(parse_email(raw))
    assert (kind, reason) == ("bounce", "message/delivery-status part")
    assert bounce == BounceInfo(("x@kund.example",), "5.0.0", None)
