"""Field and operator metadata (`FIELDS`, `OPERATORS`) and the size limits.

This is the single table the parser, validator, compiler and a rule-builder UI read:
names, labels, which operators each field accepts and what value each operator takes.
"""
from __future__ import annotations

from dataclasses import dataclass

# Limits: a pasted megabyte must give an error, never exhaust the server.
MAX_DEPTH = 32  # nested groups / `not`
MAX_NODES = 1000  # conditions + groups
MAX_TEXT_BYTES = 64 * 1024  # text form, UTF-8
MAX_JSON_BYTES = 256 * 1024  # stored form is wordier than text
MAX_STRING_CHARS = 8192  # one value or pattern
MAX_LIST_ITEMS = 1000  # `is any of [...]`
VERSION = 1  # the stored form's "v"


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: JSON `name`, text `phrase` (e.g. "begins with"), UI `label`.

    `negates` names the positive operator it is the exact negation of: `to not contains x`
    means `not (to contains x)`, i.e. no recipient contains x.
    """

    name: str
    phrase: str
    label: str
    negates: str | None = None


@dataclass(frozen=True)
class FieldInfo:
    """One field: JSON/text `name`, UI `label`, `kind` and the operators it accepts.

    kind: "string" | "address" (matches address or display name) | "size" (bytes) |
    "date" | "flag" (boolean, no value) | "choice" (one of `choices`, compared whole).
    `multi` fields match when ANY value matches, or every value with the `all` quantifier.
    """

    name: str
    label: str
    kind: str
    multi: bool
    operators: tuple[str, ...]
    help: str = ""
    choices: tuple[str, ...] = ()


def _op(name: str, phrase: str, negates: str | None = None) -> OperatorInfo:
    return OperatorInfo(name, phrase, phrase[0].upper() + phrase[1:], negates)


_OPS = (
    _op("contains", "contains"),
    _op("not_contains", "not contains", "contains"),
    _op("equals", "equals"),
    _op("not_equals", "not equals", "equals"),
    _op("begins_with", "begins with"),
    _op("not_begins_with", "not begins with", "begins_with"),
    _op("ends_with", "ends with"),
    _op("not_ends_with", "not ends with", "ends_with"),
    _op("matches", "matches"),
    _op("not_matches", "not matches", "matches"),
    _op("is_any_of", "is any of"),
    _op("is_none_of", "is none of", "is_any_of"),
    _op("is_empty", "is empty"),
    _op("is_not_empty", "is not empty", "is_empty"),
    _op("lt", "<"),
    _op("le", "<="),
    _op("gt", ">"),
    _op("ge", ">="),
    _op("before", "before"),
    _op("after", "after"),
    _op("is_true", "is true"),
)
OPERATORS: dict[str, OperatorInfo] = {o.name: o for o in _OPS}

STRING_OPS = tuple(o.name for o in _OPS[:14])
SIZE_OPS = ("lt", "le", "gt", "ge")
DATE_OPS = ("before", "after", "lt", "le", "gt", "ge", "is_empty", "is_not_empty")
# Operators whose comparison can be made case-sensitive with `case`.
CASE_OPS = frozenset(STRING_OPS) - {"is_empty", "is_not_empty"}
VALUELESS_OPS = frozenset({"is_empty", "is_not_empty", "is_true"})
REGEX_OPS = frozenset({"matches", "not_matches"})
LIST_OPS = frozenset({"is_any_of", "is_none_of"})
CHOICE_OPS = ("equals", "not_equals", "is_any_of", "is_none_of")
# What the mail parser decides a message is (mail.automated.classify): person or robot.
KINDS = ("normal", "auto_reply", "bounce", "delivery_report", "feedback")


def _field(name: str, label: str, kind: str, multi: bool, help: str) -> FieldInfo:
    ops = {"size": SIZE_OPS, "date": DATE_OPS, "flag": ("is_true",)}.get(kind, STRING_OPS)
    return FieldInfo(name, label, kind, multi, ops, help)


_FIELDS = (
    _field("from", "From", "address", False, "Sender address or display name"),
    _field("to", "To", "address", True, "A To recipient (address or name)"),
    _field("cc", "Cc", "address", True, "A Cc recipient (address or name)"),
    _field("bcc", "Bcc", "address", True, "A Bcc recipient (address or name)"),
    _field("reply_to", "Reply-To", "address", True, "A Reply-To address or name"),
    _field("recipient", "Any recipient", "address", True, "Any To, Cc or Bcc recipient"),
    _field("subject", "Subject", "string", False, "The decoded subject"),
    _field("body", "Body", "string", False, "The body as plain text (HTML converted)"),
    _field("header", "Header", "string", True, "All values of the named header"),
    _field("attachment", "Attachment name", "string", True, "An attachment's file name"),
    _field("has_attachment", "Has attachment", "flag", False, "At least one attachment"),
    _field("size", "Size", "size", False, "Message size in bytes (units KB, MB, GB)"),
    _field("date", "Date", "date", False, "The Date header (UTC for date-only values)"),
    _field("folder", "Folder", "string", False, "The mailbox folder being scanned"),
    _field("from_domain", "Sender domain", "string", False, "Domain of the From address"),
)
_KIND = FieldInfo(
    "kind", "Kind", "choice", False, CHOICE_OPS,
    "What sent the mail: normal (a person), auto_reply, bounce, delivery_report, feedback",
    KINDS,
)
FIELDS: dict[str, FieldInfo] = {f.name: f for f in (*_FIELDS, _KIND)}


def value_type(field: str, op: str) -> str:
    """What value `op` takes on `field`: "none" | "string" | "regex" | "list" | "size" | "date"."""
    if op in VALUELESS_OPS:
        return "none"
    kind = FIELDS[field].kind
    if kind in ("size", "date"):
        return kind
    if op in REGEX_OPS:
        return "regex"
    return "list" if op in LIST_OPS else "string"
