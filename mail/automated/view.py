"""What classification reads of a message: a parsed email, never raw bytes.

Classification sits above parsing (it takes a ``ParsedEmail``) and never parses; this
protocol is the seam, so tests may hand it any object with these names.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..attachments import Attachment


class AddressLike(Protocol):
    """One mailbox of the message (From)."""

    @property
    def address(self) -> str: ...
    @property
    def name(self) -> str: ...


class EmailLike(Protocol):
    """The part of ``ParsedEmail`` that classification reads."""

    @property
    def subject(self) -> str: ...
    @property
    def from_(self) -> AddressLike | None: ...
    @property
    def text_body(self) -> str: ...
    @property
    def attachments(self) -> tuple[Attachment, ...]: ...
    def header(self, name: str) -> tuple[str, ...]: ...


ADDR = r"[A-Za-z0-9._%+'=/!#$&*?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
ADDRESS = re.compile(ADDR)
# An enhanced status code (RFC 3463) standing alone: not a version number such as 2.3.2.1.
STATUS = re.compile(r"(?<![\w.\-/])([245]\.\d{1,3}\.\d{1,3})(?![\w-]|\.\d)")
MSGID_LINE = re.compile(r"(?im)^\s*message-id:\s*<([^<>\s]+)>")


def first(msg: EmailLike, name: str) -> str:
    """The first value of a header, stripped; "" when absent."""
    values = msg.header(name)
    return values[0].strip() if values else ""


def head_of(att: Attachment, limit: int = 200_000) -> bytes:
    """The first ``limit`` decoded bytes of an attachment: a report may carry the whole
    original with its attachments, and only its start is ever read."""
    taken: list[bytes] = []
    size = 0
    try:
        chunks = att.iter_payload()
    except ValueError:  # UndecodablePart: an unknown transfer encoding, nothing to read
        return b""
    for chunk in chunks:
        taken.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(taken)[:limit]


def header_groups(text: str) -> list[dict[str, str]]:
    """Split a report body (message/delivery-status, message/feedback-report) into groups
    of fields separated by blank lines; keys lower-cased, folded lines joined, the first
    value of a repeated field kept (except ``original-rcpt-to``, joined by commas)."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r", "").split("\n"):
        if not line.strip():
            if current:
                groups.append(current)
                current = {}
            continue
        if line[:1] in (" ", "\t") and last in current:
            current[last] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            last = key.strip().lower()
            if last in current and last == "original-rcpt-to":
                current[last] += ", " + value.strip()
            else:
                current.setdefault(last, value.strip())
    if current:
        groups.append(current)
    return groups


def strip_type(value: str) -> str:
    """ "rfc822; user@example.com" -> "user@example.com" (RFC 3464 address-type prefix)."""
    return value.split(";", 1)[-1].strip().strip("<>").strip()


def original_message_id(att: Attachment) -> str | None:
    """The Message-ID in the header block of a returned message or its headers."""
    head = head_of(att, 65_536).decode("utf-8", "replace").replace("\r\n", "\n")
    found = MSGID_LINE.search(head.split("\n\n", 1)[0])
    return found.group(1) if found else None


ORIGINAL_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",
    "message/global-headers",
)
