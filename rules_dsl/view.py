"""The read-only seam between the mail parser and the compiler.

`mail.parsing.ParsedEmail` implements `EmailView` with exactly these attribute names;
tests and benchmarks use small dataclasses. Bodies may be computed lazily by the
implementer: the compiler reads `text_body` only when a rule needs the `body` field.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class AddressView(Protocol):
    """One mailbox: `address` ("alice@example.com", may be "") and decoded display `name`."""

    @property
    def address(self) -> str: ...

    @property
    def name(self) -> str: ...


class AttachmentView(Protocol):
    """One attachment; rules only look at its file name."""

    @property
    def filename(self) -> str: ...


class EmailView(Protocol):
    """What a rule can see of an email."""

    @property
    def subject(self) -> str: ...

    @property
    def from_(self) -> AddressView | None: ...

    @property
    def to(self) -> Sequence[AddressView]: ...

    @property
    def cc(self) -> Sequence[AddressView]: ...

    @property
    def bcc(self) -> Sequence[AddressView]: ...

    @property
    def reply_to(self) -> Sequence[AddressView]: ...

    @property
    def text_body(self) -> str: ...

    @property
    def attachments(self) -> Sequence[AttachmentView]: ...

    @property
    def size(self) -> int: ...

    @property
    def date(self) -> datetime | None: ...  # timezone-aware

    @property
    def folder(self) -> str: ...

    @property
    def kind(self) -> str:
        """ "normal", "auto_reply", "bounce", "delivery_report" or "feedback"."""
        ...

    def header(self, name: str) -> Sequence[str]:
        """All decoded values of header `name` (case-insensitive), in order."""
        ...
