"""Automated mail: which messages a robot sent, so the helpdesk never answers one.

``classify(parsed)`` takes a parsed message (it never parses) and returns
``(kind, reason, info)``, checking in this order:
  1. feedback reports (ARF, RFC 5965, and providers' abuse reports, Amazon SES complaints)
     -> "feedback" + ``FeedbackInfo``;
  2. delivery status notifications (RFC 3464): all recipients delivered/relayed/expanded
     -> "delivery_report" + ``DeliveryReportInfo`` (also SES "Delivery" notifications);
  3. delivery failures -> "bounce" + ``BounceInfo`` (DSN reports, X-Failed-Recipients,
     daemon senders, MTAs that only write text; see ``bounces``; SES "Bounce");
  4. auto-replies (RFC 3834 and vendor headers, out-of-office subjects, read receipts,
     a null Return-Path) -> "auto_reply";
  5. everything else -> "normal".
Ordinary mail is decided from its headers alone: the body is read only when a header or
the subject already looks automated.
"""

from __future__ import annotations

from typing import Literal

from .autoreply import auto_reply_reason
from .bounces import bounce_info, bounce_reason, is_daemon
from .dsn import BounceInfo, DeliveryReportInfo, delivery_report, is_success, report_rows
from .feedback import FeedbackInfo, feedback_report
from .ses import ses_notification
from .view import EmailLike, first

__all__ = [
    "BounceInfo",
    "DeliveryReportInfo",
    "EmailLike",
    "FeedbackInfo",
    "Info",
    "Kind",
    "classify",
]

Kind = Literal["normal", "auto_reply", "bounce", "delivery_report", "feedback"]
Info = BounceInfo | DeliveryReportInfo | FeedbackInfo | None


def _ses(msg: EmailLike) -> tuple[Kind, str, Info] | None:
    # Only AWS's own notifications are read as JSON: never a body a person could write.
    sender = (msg.from_.address if msg.from_ else "").lower()
    if not sender.endswith(("amazonaws.com", "amazonses.com")):
        return None
    note = ses_notification(msg.text_body)
    if note is None:
        return None
    if note.type == "complaint":
        info = FeedbackInfo(
            note.feedback_type or "abuse",
            note.recipients,
            None,
            "Amazon SES",
            None,
            None,
            note.original_message_id,
        )
        return "feedback", "Amazon SES complaint notification", info
    if note.type == "delivery":
        report = DeliveryReportInfo(
            note.recipients, "delivered", note.status, note.original_message_id
        )
        return "delivery_report", "Amazon SES delivery notification", report
    bounce = BounceInfo(note.recipients, note.status, note.original_message_id)
    return "bounce", f"Amazon SES bounce notification ({note.sub_type or 'bounce'})", bounce


def classify(msg: EmailLike) -> tuple[Kind, str, Info]:
    """Return (kind, reason, info) for a parsed message; see the module docstring.

    >>> from mailscanner.mail.parsing import parse_email
    >>> classify(parse_email(b"From: a@b.c\\r\\nAuto-Submitted: auto-replied\\r\\n\\r\\nx"))[:2]
    ('auto_reply', 'Auto-Submitted: auto-replied')
    """
    found = feedback_report(msg)
    if found is not None:
        return "feedback", found[0], found[1]
    ctype = first(msg, "Content-Type").lower()
    is_dsn = ctype.startswith("multipart/report") and "delivery-status" in ctype
    rows, original = report_rows(msg) if is_dsn else ([], None)
    if is_dsn and is_success(rows):
        return (
            "delivery_report",
            "delivery status notification: " + rows[0].action,
            (delivery_report(rows, original)),
        )
    if ctype.startswith("text/plain") or not ctype:
        ses = _ses(msg)
        if ses is not None:
            return ses
    reason = bounce_reason(msg, rows if is_dsn else None)
    if reason == "message/delivery-status part" or (reason and not is_dsn and is_daemon(msg)):
        rows, original = report_rows(msg)
        if is_success(rows):
            return (
                "delivery_report",
                "delivery status notification: " + rows[0].action,
                (delivery_report(rows, original)),
            )
    if reason:
        return "bounce", reason, bounce_info(msg, rows, original)
    reason = auto_reply_reason(msg)
    if reason:
        return "auto_reply", reason, None
    return "normal", "", None
