"""Amazon SES notifications delivered as mail: the JSON of a Bounce, Complaint or Delivery.

SES can publish its notifications through SNS to an e-mail address. The body is then the
notification JSON itself (plain "email" subscriptions, followed by SNS's unsubscribe footer),
or an SNS envelope whose ``Message`` field holds it as a string ("email-json"). Configuration
set event publishing names the type ``eventType`` instead of ``notificationType``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .view import STATUS

MAX_JSON_CHARS = 200_000


@dataclass(frozen=True)
class SesNotification:
    """The fields of one SES notification that classification uses."""

    type: str  # "bounce" | "complaint" | "delivery"
    recipients: tuple[str, ...]
    status: str | None
    original_message_id: str | None
    feedback_type: str | None
    sub_type: str | None


def _load(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0 or text[:start].strip():
        return None  # the notification is the whole body, never something quoted in it
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:MAX_JSON_CHARS])
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    inner = value.get("Message")
    if value.get("Type") == "Notification" and isinstance(inner, str):
        return _load(inner)
    return value


def _original_id(mail: object) -> str | None:
    if not isinstance(mail, dict):
        return None
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        return common["messageId"].strip().strip("<>") or None
    for item in mail.get("headers") or ():
        if isinstance(item, dict) and str(item.get("name", "")).lower() == "message-id":
            return str(item.get("value", "")).strip().strip("<>") or None
    return None


def _addresses(items: object) -> tuple[str, ...]:
    # Bounce and complaint rows are objects with "emailAddress"; delivery lists strings.
    found: list[str] = []
    for item in items if isinstance(items, list) else ():
        value = item.get("emailAddress") if isinstance(item, dict) else item
        if isinstance(value, str) and "@" in value:
            found.append(value.strip().strip("<>"))
    return tuple(dict.fromkeys(found))


def ses_notification(text: str) -> SesNotification | None:
    """The SES notification a body consists of, or None for any other body."""
    if "{" not in text[:200]:
        return None
    data = _load(text)
    if data is None or not isinstance(data.get("mail"), dict):
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    section = data.get(kind)
    if kind not in ("bounce", "complaint", "delivery") or not isinstance(section, dict):
        return None
    original = _original_id(data["mail"])
    if kind == "bounce":
        listed = section.get("bouncedRecipients")
        items = listed if isinstance(listed, list) else []
        status = next(
            (str(i["status"]) for i in items if isinstance(i, dict) and i.get("status")), None
        )
        sub = f"{section.get('bounceType', '')}/{section.get('bounceSubType', '')}".strip("/")
        return SesNotification("bounce", _addresses(items), status, original, None, sub or None)
    if kind == "complaint":
        feedback = section.get("complaintFeedbackType")
        return SesNotification(
            "complaint",
            _addresses(section.get("complainedRecipients")),
            None,
            original,
            str(feedback) if feedback else "abuse",
            None,
        )
    response = str(section.get("smtpResponse") or "")
    code = STATUS.search(response)
    return SesNotification(
        "delivery",
        _addresses(section.get("recipients")),
        code.group(1) if code else None,
        original,
        None,
        None,
    )
