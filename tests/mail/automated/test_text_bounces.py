"""Bounces from MTAs that write no multipart/report, each read for recipients and status;
and ordinary mail that talks about delivery problems stays normal."""

from __future__ import annotations

import json

import pytest

from mailscanner.mail.automated import BounceInfo
from mailscanner.mail.parsing import parse_email

ORIGINAL = (
    "Message-ID: <tt5.c1@helpdesk.example.com>\r\nFrom: Acme Helpdesk "
    "<support@helpdesk.example.com>\r\nTo: gone@kund.example\r\nSubject: [TT5] Update\r\n"
)


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


# DragonFly Mail Agent (dma): its bounce is a plain text report with the original headers.
DMA = crlf(
    "Received: from MAILER-DAEMON\n\tid 1a2b3c\n\tby mx.helpdesk.example.com (DragonFly Mail "
    "Agent v0.13);\n\tThu, 07 Mar 2024 10:00:00 +0100\n"
    "X-Original-To: <support@helpdesk.example.com>\nFrom: MAILER-DAEMON <>\n"
    "To: support@helpdesk.example.com\nSubject: Mail delivery failed\n"
    "Message-Id: <1a2b3c.bounce@mx.helpdesk.example.com>\n"
    "Date: Thu, 07 Mar 2024 10:00:00 +0100\n\n"
    "This is the DragonFly Mail Agent v0.13 at mx.helpdesk.example.com.\n\n"
    "There was an error delivering your mail to <gone@kund.example>.\n\n"
    "remote delivery failed: 550 5.1.1 <gone@kund.example>: Recipient address rejected: "
    "User unknown\n\nMessage headers follow.\n\n" + ORIGINAL
)
# Apache James: "[BOUNCE]", the error message, then the message details.
JAMES = crlf(
    "From: postmaster@mail.kund.example\nTo: support@helpdesk.example.com\n"
    "Subject: [BOUNCE]\nMessage-ID: <12345.67.JavaMail.root@mail.kund.example>\n"
    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"james\"\n\n"
    "--james\nContent-Type: text/plain; charset=us-ascii\n\n"
    "Hi. This is the James mail server at mail.kund.example.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out. Below\n"
    "I include the list of recipients and the reason why I was unable to deliver\n"
    "your message.\n\nFailed recipient(s):\ngone@kund.example\n\nError message:\n"
    "Account does not exist\n\n"
    "--james\nContent-Type: message/rfc822\n\n" + ORIGINAL + "\nHello\n--james--\n"
)
# FML mailing list manager: an error to the poster, then "Original mail as follows:".
FML = crlf(
    "From: support-ml-admin@lists.kund.example\nTo: support@helpdesk.example.com\n"
    "Subject: fml status report (support-ml ML)\nX-MLServer: fml [fml 4.0.3 release]\n"
    "Message-ID: <202403071000.FML12345.support-ml@lists.kund.example>\n\n"
    "You are not a member of this mailing list <support-ml@lists.kund.example>.\n\n"
    "If you know the general guide of this list, please send mail with the mail body\n"
    "guide\nto the address\n\tsupport-ml-ctl@lists.kund.example\n\n"
    "Original mail as follows:\n\n" + ORIGINAL + "\nHello\n"
)
# A "simple" bounce: one status line, then the returned message.
SIMPLE = crlf(
    "From: Mail Delivery Subsystem <mail@relay.kund.example>\nTo: support@helpdesk.example.com\n"
    "Subject: Returned mail: see transcript for details\n\n"
    "5.1.1 <gone@kund.example>... User unknown\n\n" + ORIGINAL + "\nHello\n"
)
QMAIL_LIKE_WITHOUT_DAEMON_ADDRESS = crlf(
    "From: MAILER DAEMON <mdaemon@relay.kund.example>\nTo: support@helpdesk.example.com\n"
    "Subject: failure notice\n\n"
    "Hi. This is the qmail-send program at relay.kund.example.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<gone@kund.example>:\n192.0.2.7 does not like recipient.\n"
    "Remote host said: 550 5.1.1 mailbox unavailable\nGiving up on 192.0.2.7.\n\n"
    "--- Below this line is a copy of the message.\n\n" + ORIGINAL
)

CASES = {
    "dma": (DMA, "5.1.1"),
    "james": (JAMES, None),
    "fml": (FML, None),
    "simple": (SIMPLE, "5.1.1"),
    "qmail-like": (QMAIL_LIKE_WITHOUT_DAEMON_ADDRESS, "5.1.1"),
}


@pytest.mark.parametrize("mta", sorted(CASES))
def test_bounce_without_a_report_part_is_found_with_its_recipient(mta: str) -> None:
    raw, status = CASES[mta]
    parsed = parse_email(raw)
    assert parsed.kind == "bounce", parsed.kind_reason
    bounce = parsed.bounce
    assert bounce is not None
    expected = "support-ml@lists.kund.example" if mta == "fml" else "gone@kund.example"
    assert bounce.recipients == (expected,)
    assert bounce.status == status
    assert bounce.original_message_id == "tt5.c1@helpdesk.example.com"


def test_james_error_text_gives_a_status_from_an_smtp_code() -> None:
    raw = JAMES.replace(b"Account does not exist", b"550 Requested action not taken")
    bounce = parse_email(raw).bounce
    assert bounce is not None and bounce.status == "5.0.0"


def ses_bounce(envelope: bool) -> bytes:
    note = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "gone@kund.example", "status": "5.1.1", "action": "failed"}
            ],
        },
        "mail": {"commonHeaders": {"messageId": "<tt6@helpdesk.example.com>"}},
    }
    body = json.dumps({"Type": "Notification", "Message": json.dumps(note)} if envelope else note)
    return crlf(
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: ops@helpdesk.example.com\n"
        "Subject: AWS Notification Message\nContent-Type: text/plain; charset=UTF-8\n\n"
        + body
        + "\n\n--\nIf you wish to stop receiving notifications from this topic, click below.\n"
    )


@pytest.mark.parametrize("envelope", [False, True], ids=["email", "email-json"])
def test_amazon_ses_bounce_notification_is_a_bounce(envelope: bool) -> None:
    parsed = parse_email(ses_bounce(envelope))
    assert parsed.kind == "bounce"
    assert parsed.kind_reason == "Amazon SES bounce notification (Permanent/General)"
    assert parsed.bounce == BounceInfo(("gone@kund.example",), "5.1.1", "tt6@helpdesk.example.com")


def test_amazon_ses_dsn_from_its_mailer_daemon_is_a_bounce() -> None:
    raw = crlf(
        "From: MAILER-DAEMON@amazonses.com\nTo: support@helpdesk.example.com\n"
        "Subject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"s\"\n\n"
        "--s\nContent-Type: text/plain\n\nAn error occurred while trying to deliver the mail "
        "to the following recipients:\ngone@kund.example\n"
        "--s\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; a.amazonses.com\n\n"
        "Final-Recipient: rfc822; gone@kund.example\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n--s--\n"
    )
    bounce = parse_email(raw).bounce
    assert bounce == BounceInfo(("gone@kund.example",), "5.1.1", None)


NORMAL = [
    ("Re: your mail could not be delivered", "Hi, your mail could not be delivered to my "
     "colleague anna@kund.example, she gets 550 errors. Can you check?"),
    ("Undelivered parcel", "My parcel was not delivered. Order 5.1.1 is late, user unknown."),
    ("Fwd: Undelivered Mail Returned to Sender", "See below, what does this mean?\n\n"
     "---------- Forwarded message ---------\nFrom: Mail Delivery System "
     "<MAILER-DAEMON@mx.example>\n\n<gone@kund.example>: 550 5.1.1 User unknown"),
    ("Delivery failure on your website", "The delivery address form fails with error 500."),
]


@pytest.mark.parametrize(("subject", "body"), NORMAL)
def test_a_person_writing_about_delivery_problems_is_normal(subject: str, body: str) -> None:
    raw = crlf(
        f"From: Kim Berg <kim@kund.example>\nTo: support@helpdesk.example.com\n"
        f"Subject: {subject}\nMessage-ID: <k1@kund.example>\n\n{body}\n"
    )
    parsed = parse_email(raw)
    assert (parsed.kind, parsed.kind_reason) == ("normal", "")
