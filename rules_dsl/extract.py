"""Per-email field values, extracted once and shared by every compiled rule.

`extract(email)` returns an `ExtractedFields`: a dict that loads a key the first time a
predicate asks for it (`__missing__`), so a field no rule needs (often the body) is never
read, and a field 100 rules need is read, casefolded and joined once. Keys are built by
`key()`: the field (or `header\\0<name>`) plus variant suffixes:

    CF    casefolded copy          FLAT  all pieces of a multi-valued field, flattened
    JOIN  "\\0a\\0b\\0" of the pieces (substring/prefix/suffix tests in one `in`)
    SET   frozenset of the pieces (equality tests)

Single-valued text fields (subject, body, folder, from_domain, kind) are plain strings; address,
header and attachment fields are tuples of groups: one group per value, `(address, name)`
for an address and `(text,)` otherwise.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .view import AddressView, EmailView

CF = "\x01cf"
FLAT = "\x01flat"
JOIN = "\x01join"
SET = "\x01set"
SEP = "\x00"
TEXT_FIELDS = frozenset({"subject", "body", "folder", "from_domain", "kind"})
Groups = tuple[tuple[str, ...], ...]


def key(field: str, header: str | None = None, *variants: str) -> str:
    """The cache key of a field (and header name) with the given variant suffixes."""
    base = f"header{SEP}{header.lower()}" if field == "header" and header else field
    return base + "".join(variants)


class ExtractedFields(dict[str, Any]):
    """Lazily filled field values of one email; pass it to `CompiledRule.evaluate`."""

    __slots__ = ("email",)

    def __init__(self, email: EmailView) -> None:
        super().__init__()
        self.email = email

    def __missing__(self, name: str) -> Any:
        value = self._load(name)
        self[name] = value
        return value

    def _load(self, name: str) -> Any:
        for suffix, derive in _DERIVED:
            if name.endswith(suffix):
                return derive(self[name[: -len(suffix)]])
        if name.startswith("header" + SEP):
            values = self.email.header(name[len("header" + SEP) :]) or ()
            return tuple((v or "",) for v in values)
        return _LOADERS[name](self.email)


def extract(email: EmailView) -> ExtractedFields:
    """Start the shared per-email cache; values load on first use."""
    return ExtractedFields(email)


def _casefold(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    return tuple(tuple(p.casefold() for p in group) for group in value)


def _flat(groups: Groups) -> tuple[str, ...]:
    return tuple(p for group in groups for p in group)


def _join(groups: Groups) -> str:
    # Bracketed by SEP so a prefix test is `SEP+n in s` and a suffix test `n+SEP in s`.
    pieces = _flat(groups)
    return SEP + SEP.join(pieces) + SEP if pieces else ""


def _set(groups: Groups) -> frozenset[str]:
    return frozenset(_flat(groups))


_DERIVED: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    (FLAT, _flat), (JOIN, _join), (SET, _set), (CF, _casefold),
)


def _addresses(values: Any) -> Groups:
    return tuple((a.address or "", a.name or "") for a in values or ())


def _sender(email: EmailView) -> Groups:
    sender: AddressView | None = email.from_
    return () if sender is None else ((sender.address or "", sender.name or ""),)


def _from_domain(email: EmailView) -> str:
    sender = email.from_
    address = (sender.address or "") if sender is not None else ""
    return address.rpartition("@")[2] if "@" in address else ""


def _date(email: EmailView) -> datetime | None:
    moment = email.date
    if moment is None:
        return None
    # The protocol promises aware datetimes; a naive one is read as UTC rather than crash.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_LOADERS: dict[str, Callable[[EmailView], Any]] = {
    "subject": lambda e: e.subject or "",
    "body": lambda e: e.text_body or "",
    "folder": lambda e: e.folder or "",
    "from_domain": _from_domain,
    "from": _sender,
    "to": lambda e: _addresses(e.to),
    "cc": lambda e: _addresses(e.cc),
    "bcc": lambda e: _addresses(e.bcc),
    "reply_to": lambda e: _addresses(e.reply_to),
    "recipient": lambda e: _addresses(e.to) + _addresses(e.cc) + _addresses(e.bcc),
    "attachment": lambda e: tuple((a.filename or "",) for a in e.attachments or ()),
    "has_attachment": lambda e: bool(e.attachments),
    "size": lambda e: int(e.size or 0),
    "date": _date,
    "kind": lambda e: e.kind or "normal",
}
