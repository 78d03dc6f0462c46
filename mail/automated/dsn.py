"""Delivery status notifications (RFC 3464): who failed, who was delivered, and why.

A ``message/delivery-status`` part holds one group of per-message fields, then one group
per recipient with ``Final-Recipient``, ``Action`` (failed, delayed, delivered, relayed,
expanded) and ``Status``. A report where any recipient failed or is delayed is a bounce;
one where every recipient was delivered, relayed or expanded is a delivery report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .view import ORIGINAL_TYPES, STATUS, head_of, header_groups, original_message_id, strip_type

if TYPE_CHECKING:
    from ..attachments import Attachment
    from .view import EmailLike

DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


@dataclass(frozen=True)
class BounceInfo:
    """What a delivery failure report tells us; message id WITHOUT angle brackets."""

    recipients: tuple[str, ...]
    status: str | None
    original_message_id: str | None
    # Every recipient that did not get the mail is only delayed (RFC 3464 `Action: delayed`):
    # the MTA still retries, so the mail has not failed (yet).
    delayed: bool = False


@dataclass(frozen=True)
class DeliveryReportInfo:
    """A report that mail arrived (or was passed on): recipients, the RFC 3464 action
    ("delivered", "relayed" or "expanded"), status and the original's Message-ID."""

    recipients: tuple[str, ...]
    action: str
    status: str | None
    original_message_id: str | None


@dataclass(frozen=True)
class DsnRow:
    """One recipient group of a delivery-status part."""

    recipient: str
    action: str
    status: str | None


def dsn_rows(att: Attachment) -> list[DsnRow]:
    """The recipient groups of one delivery-status attachment, in order."""
    rows: list[DsnRow] = []
    for group in header_groups(head_of(att).decode("utf-8", "replace")):
        rcpt = group.get("final-recipient") or group.get("original-recipient")
        if not rcpt:
            continue
        code = STATUS.search(group.get("status", ""))
        action = group.get("action", "").split("(", 1)[0].strip().lower() or "failed"
        rows.append(DsnRow(strip_type(rcpt), action, code.group(1) if code else None))
    return rows


def report_rows(msg: EmailLike) -> tuple[list[DsnRow], str | None]:
    """Every recipient row of the message's delivery-status parts, and the Message-ID of
    the returned original (from message/rfc822 or text/rfc822-headers) when present."""
    rows: list[DsnRow] = []
    original: str | None = None
    for att in msg.attachments:
        if att.content_type in DSN_TYPES:
            rows.extend(dsn_rows(att))
        elif att.content_type in ORIGINAL_TYPES and original is None:
            original = original_message_id(att)
    return rows, original


def is_success(rows: list[DsnRow]) -> bool:
    """True when the report has recipients and every one was delivered/relayed/expanded."""
    return bool(rows) and all(row.action in SUCCESS_ACTIONS for row in rows)


def delivery_report(rows: list[DsnRow], original: str | None) -> DeliveryReportInfo:
    """The delivery report of an all-success DSN."""
    recipients = tuple(dict.fromkeys(row.recipient for row in rows))
    actions = [row.action for row in rows]
    action = max(set(actions), key=actions.count) if actions else "delivered"
    status = next((row.status for row in rows if row.status), None)
    return DeliveryReportInfo(recipients, action, status, original)


def failed_rows(rows: list[DsnRow]) -> list[DsnRow]:
    """The rows that did not succeed (all rows when none is marked)."""
    return [row for row in rows if row.action not in SUCCESS_ACTIONS] or rows
