"""A small frozen EmailView for tests, built from the `email` objects of the case files.

Addresses are "Name <addr>" strings (or {"address", "name"}); headers a name -> list map
(lookups are case-insensitive); `date` an ISO string; `attachments` file names.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any


@dataclass(frozen=True)
class Address:
    address: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str


@dataclass(frozen=True)
class FakeEmail:
    subject: str = ""
    from_: Address | None = None
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    reply_to: Sequence[Address] = ()
    text_body: str = ""
    attachments: Sequence[Attachment] = ()
    size: int = 0
    date: datetime | None = None
    folder: str = "INBOX"
    kind: str = "normal"
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def header(self, name: str) -> Sequence[str]:
        wanted = name.lower()
        return [v for k, vs in self.headers.items() if k.lower() == wanted for v in vs]


def address(data: str | Mapping[str, str]) -> Address:
    if isinstance(data, str):
        name, addr = parseaddr(data)
        return Address(addr, name)
    return Address(data.get("address", ""), data.get("name", ""))


def make_email(data: Mapping[str, Any]) -> FakeEmail:
    """Build a FakeEmail from a case file's `email` object."""
    date = data.get("date")
    return FakeEmail(
        subject=data.get("subject", ""),
        from_=address(data["from"]) if data.get("from") is not None else None,
        to=tuple(address(a) for a in data.get("to", ())),
        cc=tuple(address(a) for a in data.get("cc", ())),
        bcc=tuple(address(a) for a in data.get("bcc", ())),
        reply_to=tuple(address(a) for a in data.get("reply_to", ())),
        text_body=data.get("body", ""),
        attachments=tuple(Attachment(n) for n in data.get("attachments", ())),
        size=data.get("size", 0),
        date=datetime.fromisoformat(date) if date else None,
        folder=data.get("folder", "INBOX"),
        kind=data.get("kind", "normal"),
        headers={k: tuple(v) for k, v in data.get("headers", {}).items()},
    )
