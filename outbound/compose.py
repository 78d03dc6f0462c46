"""Building the outgoing `EmailMessage` from an outbox row: headers made safe, two parts.

Header safety is structural, not string-pasting: addresses go through email-validator (no
DNS) and `email.headerregistry.Address`; names and subjects are collapsed to one line and
encoded by `policy.SMTP` (RFC 2047 for non-ASCII); Message-IDs must look like `<x@y>`.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from email_validator import EmailNotValidError, validate_email

__all__ = ["InvalidAddress", "build_message", "format_recipient", "normalize_message_id",
           "one_line", "parse_recipients", "validated_address"]

MAX_REFERENCES = 20
_MSGID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


class InvalidAddress(ValueError):
    """An address that cannot be put in a header (the message says which and why)."""


def one_line(text: str) -> str:
    """Collapse CR/LF, NUL and other control characters: they would end the header."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def validated_address(address: str) -> str:
    """The normalized address, or `InvalidAddress`; syntax only (no DNS lookups)."""
    raw = address.strip()
    if raw != one_line(raw) or not raw:
        raise InvalidAddress(f"Invalid email address {address!r}.")
    try:
        # test_environment admits *.test: CRM test installs and this suite send to such domains.
        return validate_email(raw, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise InvalidAddress(f"Invalid email address {raw!r}: {exc}") from None


def _address(name: str, address: str) -> Address:
    addr = validated_address(address)
    return Address(display_name=one_line(name), addr_spec=addr)


def format_recipient(name: str, address: str) -> str:
    """`"Eve Example <eve@example.com>"` with the address validated (stored in the outbox)."""
    return str(_address(name, address))


def parse_recipients(values: list[str]) -> list[Address]:
    """Stored recipient strings back to validated `Address` objects."""
    out: list[Address] = []
    for name, addr in getaddresses(values):
        out.append(_address(name, addr))
    return out


def normalize_message_id(value: str | None) -> str | None:
    """`abc@x` or `<abc@x>` -> `<abc@x>`; None for anything that is not a plain msg-id."""
    if not value:
        return None
    text = value.strip()
    if not text.startswith("<"):
        text = f"<{text}>"
    return text if _MSGID.match(text) else None


def trim_references(ids: list[str]) -> list[str]:
    """Keep the thread root and the most recent ids (RFC 5322 §3.6.4 allows trimming)."""
    if len(ids) <= MAX_REFERENCES:
        return ids
    return [ids[0], *ids[-(MAX_REFERENCES - 1):]]


def build_message(*, sender_address: str, sender_name: str, recipients: list[str],
                  subject: str, text_body: str, html_body: str, message_id: str,
                  in_reply_to: str | None, references: list[str],
                  date: dt.datetime | None = None,
                  attachments: Sequence[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """One multipart/alternative message (text, then HTML), ready for aiosmtplib; with
    `attachments` ((filename, content type, bytes)), multipart/mixed with them after it.

    Raises `InvalidAddress` for a bad sender or recipient, ValueError for a bad Message-ID.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(sender_name, sender_address)
    msg["To"] = parse_recipients(recipients)
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    own_id = normalize_message_id(message_id)
    if own_id is None:
        raise ValueError(f"invalid Message-ID {message_id!r}")
    msg["Message-ID"] = own_id
    refs = [r for r in (normalize_message_id(x) for x in references) if r]
    parent = normalize_message_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = parent
    if refs:
        msg["References"] = " ".join(trim_references(refs))
    msg.set_content(text_body)
    if html_body:
        msg.add_alternative(html_body, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        # Bytes go out base64-encoded whatever the type, so a text file arrives byte for byte.
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg
