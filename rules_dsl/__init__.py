"""The Mail Scanner's rule language: one AST, two lossless forms, compiled predicates.

Text (for people)::

    subject contains "invoice" and (from ends with "@acme.com" or header "X-Priority"
    equals "1") and not body matches /unsubscribe/

Stored JSON (for the DB and a rule builder)::

    {"v":1,"and":[{"field":"subject","op":"contains","value":"invoice"}, ...]}

`parse`/`to_text` and `loads`/`dumps` convert; `compile` gives a cached predicate;
`explain` gives a dry-run tree. Every bad input raises a `RuleError`. See README.md
in this folder for the language reference. This package imports nothing from the rest
of the project.
"""
from __future__ import annotations

from typing import Any

from .ast import And, Condition, Node, Not, Or, Rule
from .catalog import FIELDS, OPERATORS, FieldInfo, OperatorInfo, value_type
from .compiler import CompiledRule
from .compiler import compile_rule as compile
from .errors import RuleError, RuleSyntaxError, RuleValidationError
from .explain import Explanation, explain
from .extract import ExtractedFields, extract
from .parser import parse
from .printer import to_text
from .serialize import dumps, loads, to_json
from .validate import validate
from .view import AddressView, AttachmentView, EmailView


def parse_any(text_or_json: str | bytes | dict[str, Any]) -> Rule:
    """Parse either form: a dict or text starting with `{` is the stored JSON form,
    anything else the text form. Raises RuleError."""
    if isinstance(text_or_json, dict):
        return loads(text_or_json)
    if isinstance(text_or_json, bytes):
        text_or_json = text_or_json.decode("utf-8", "replace")
    if not isinstance(text_or_json, str):
        raise RuleValidationError(f"expected rule text or JSON, not {type(text_or_json).__name__}")
    if text_or_json.lstrip().startswith("{"):
        return loads(text_or_json)
    return parse(text_or_json)


__all__ = [
    "FIELDS", "OPERATORS", "AddressView", "And", "AttachmentView", "CompiledRule", "Condition",
    "EmailView", "Explanation", "ExtractedFields", "FieldInfo", "Node", "Not", "OperatorInfo",
    "Or", "Rule", "RuleError", "RuleSyntaxError", "RuleValidationError", "compile", "dumps",
    "explain", "extract", "loads", "parse", "parse_any", "to_json", "to_text", "validate",
    "value_type",
]
