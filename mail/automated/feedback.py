"""Abuse and feedback reports: ARF (RFC 5965) and the providers' own complaint formats.

A mailbox provider tells a sender that one of its users pressed "this is spam" (or that a
message failed authentication, carried a virus...). The standard form is
``multipart/report; report-type=feedback-report`` with a ``message/feedback-report`` part of
fields (Feedback-Type, User-Agent, Original-Mail-From, Original-Rcpt-To, Source-IP,
Reported-Domain, Arrival-Date...) and the reported message or its headers. Providers'
older loops (Microsoft JMRP, AOL, Yahoo) send the reported message as an attachment from an
abuse/feedback-loop address with a complaint subject: both signals are required, so that a
person writing from abuse@ stays a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .view import ORIGINAL_TYPES, first, head_of, header_groups, original_message_id, strip_type

if TYPE_CHECKING:
    from .view import EmailLike

FEEDBACK_TYPES = ("message/feedback-report",)
_FBL_WORDS = ("abuse", "fbl", "feedback", "complaint", "spamreport", "spam-report", "arf", "jmrp")
_FBL_MAILBOXES = frozenset({"scomp", "staff", "report", "reports"})
_FBL_STEMS = ("abuse", "complaint", "spam", "feedback", "fbl", "jmr", "junk", "report")
_FBL_SUBJECT = re.compile(
    r"(?i)(?:abuse report|complaint about message|spam report|spam complaint|"
    r"feedback[- ]loop|\bfbl\b|email feedback report|abuse complaint|report of abuse|"
    r"jmr[p]?|user complaint|junk mail report|reported as spam)"
)


@dataclass(frozen=True)
class FeedbackInfo:
    """What a feedback report says: ``feedback_type`` (abuse, fraud, virus, not-spam,
    auth-failure, other...), the reported message's recipients and envelope sender, the
    reporting agent, source IP, reported domain and the original's Message-ID."""

    feedback_type: str
    recipients: tuple[str, ...]
    original_mail_from: str | None
    user_agent: str | None
    source_ip: str | None
    reported_domain: str | None
    original_message_id: str | None


def _from_report(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for group in header_groups(text):
        for key, value in group.items():
            fields.setdefault(key, value)
    return fields


def _info(fields: dict[str, str], original: str | None) -> FeedbackInfo:
    rcpts = [strip_type(r) for r in fields.get("original-rcpt-to", "").split(",")]
    mail_from = strip_type(fields.get("original-mail-from", "")) or None
    return FeedbackInfo(
        feedback_type=(fields.get("feedback-type") or "abuse").split()[0].lower(),
        recipients=tuple(dict.fromkeys(r for r in rcpts if r)),
        original_mail_from=mail_from,
        user_agent=fields.get("user-agent") or None,
        source_ip=fields.get("source-ip") or None,
        reported_domain=fields.get("reported-domain") or None,
        original_message_id=original,
    )


def _fbl_sender(address: str) -> bool:
    # abuse@, fbl@, feedbackloop@, staff@hotmail..., scomp@aol...: a loop's own mailbox.
    local = address.partition("@")[0].lower()
    return local in _FBL_MAILBOXES or any(word in local for word in _FBL_WORDS)


def feedback_report(msg: EmailLike) -> tuple[str, FeedbackInfo] | None:
    """(reason, info) when the message is a feedback report, else None."""
    ctype = first(msg, "Content-Type").lower()
    is_arf = ctype.startswith("multipart/report") and "feedback-report" in ctype
    fbl_sender = _fbl_sender(msg.from_.address if msg.from_ else "")
    low = msg.subject.lower()
    fbl_subject = any(stem in low for stem in _FBL_STEMS) and bool(_FBL_SUBJECT.search(low))
    jmrp = bool(msg.header("X-HmXmrOriginalRecipient"))
    if not (is_arf or ctype.startswith("multipart/") and (fbl_sender or fbl_subject or jmrp)):
        return None
    fields: dict[str, str] = {}
    original: str | None = None
    returned = False
    for att in msg.attachments:  # reading parts only for report-shaped or FBL-looking mail
        if att.content_type in FEEDBACK_TYPES and not fields:
            fields = _from_report(head_of(att, 65_536).decode("utf-8", "replace"))
        elif att.content_type in ORIGINAL_TYPES and not returned:
            returned = True
            original = original_message_id(att)
    if is_arf or fields:
        reason = (
            "multipart/report; report-type=feedback-report"
            if is_arf
            else ("message/feedback-report part")
        )
        return reason, _info(fields, original)
    signals = sum((fbl_sender, fbl_subject, jmrp))
    if returned and signals >= 2:
        rcpts = msg.header("X-HmXmrOriginalRecipient")
        info = _info({"original-rcpt-to": ", ".join(rcpts)}, original)
        return "provider abuse report with the reported message attached", info
    return None
