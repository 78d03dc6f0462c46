"""Semantic checks shared by both forms: fields, operators, values, regexes and limits.

Every problem becomes a RuleValidationError carrying the JSON path of the offending key
(`$.and[1].op`) and, when the rule was parsed from text, the text position of it.
"""
from __future__ import annotations

import re
from typing import NoReturn

from .ast import And, Condition, Node, Not, Or, Rule
from .catalog import (
    CASE_OPS,
    FIELDS,
    MAX_DEPTH,
    MAX_LIST_ITEMS,
    MAX_NODES,
    MAX_STRING_CHARS,
    OPERATORS,
    VALUELESS_OPS,
    value_type,
)
from .errors import RuleValidationError
from .values import RegexError, compile_regex, parse_date

# RFC 5322 field-name: printable ASCII except ":" and space.
_HEADER_NAME = re.compile(r"[!-9;-~]{1,200}")


def validate(rule: Rule | Node) -> None:
    """Check a rule (or bare node); raise RuleValidationError on the first problem."""
    if isinstance(rule, Rule):
        _Validator(rule.source).node(rule.root, "$", 1)
    else:
        _Validator(None).node(rule, "$", 1)


class _Validator:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.count = 0

    def fail(self, message: str, node: Node | None, path: str, key: str = "") -> NoReturn:
        span = None
        if node is not None and self.source is not None:
            spans = node.spans
            span = spans.get(key) or spans.get(key.split("[")[0]) or spans.get("")
        raise RuleValidationError(
            message,
            path=f"{path}.{key}" if key else path,
            text=self.source if span else None,
            offset=span[0] if span else None,
            end=span[1] if span else None,
        )

    def node(self, node: Node, path: str, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            self.fail(f"rule has more than {MAX_NODES} conditions and groups", node, path)
        if depth > MAX_DEPTH:
            self.fail(f"rule is nested deeper than {MAX_DEPTH} levels", node, path)
        if isinstance(node, Condition):
            self.condition(node, path)
        elif isinstance(node, (And, Or)):
            self.group(node, path, depth)
        elif isinstance(node, Not):
            self.node(node.child, f"{path}.not", depth + 1)
        else:
            self.fail(f"not a rule node: {type(node).__name__}", None, path)

    def group(self, node: And | Or, path: str, depth: int) -> None:
        key = "and" if isinstance(node, And) else "or"
        if not isinstance(node.children, tuple) or not node.children:
            self.fail(f"empty '{key}' group (a group needs at least one condition)",
                      node, path, key)
        for i, child in enumerate(node.children):
            self.node(child, f"{path}.{key}[{i}]", depth + 1)

    def condition(self, node: Condition, path: str) -> None:
        info = FIELDS.get(node.field) if isinstance(node.field, str) else None
        if info is None:
            self.fail(f"unknown field {node.field!r} (known: {', '.join(FIELDS)})",
                      node, path, "field")
        self.header(node, path)
        if not isinstance(node.op, str) or node.op not in OPERATORS:
            self.fail(f"unknown operator {node.op!r}", node, path, "op")
        if node.op not in info.operators:
            valid = ", ".join(OPERATORS[o].phrase for o in info.operators)
            self.fail(f"operator '{OPERATORS[node.op].phrase}' is not valid for field "
                      f"'{node.field}' (valid: {valid})", node, path, "op")
        if node.every is not False and (
            node.every is not True or not info.multi or node.op in VALUELESS_OPS
        ):
            self.fail(f"'all' is only valid on multi-valued fields with a value "
                      f"(not on '{node.field} {OPERATORS[node.op].phrase}')", node, path, "all")
        if node.case is not False and (node.case is not True or node.op not in CASE_OPS):
            self.fail(f"'case' is not valid with '{OPERATORS[node.op].phrase}'",
                      node, path, "case")
        self.value(node, path)

    def header(self, node: Condition, path: str) -> None:
        if node.field != "header":
            if node.header is not None:
                self.fail("only the 'header' field takes a header name", node, path, "header")
            return
        if not isinstance(node.header, str) or not _HEADER_NAME.fullmatch(node.header):
            self.fail("header name must be 1-200 printable ASCII characters without ':' or "
                      f"spaces, got {node.header!r}", node, path, "header")

    def value(self, node: Condition, path: str) -> None:
        kind = value_type(node.field, node.op)
        value = node.value
        if kind == "none":
            if value is not None:
                self.fail(f"'{OPERATORS[node.op].phrase}' takes no value", node, path, "value")
        elif kind == "size":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self.fail(f"expected a size like 5MB or 1024, got {value!r}", node, path, "value")
        elif kind == "list":
            self.string_list(node, path)
            self.choice(node, path)
        elif not isinstance(value, str):
            self.fail(f"expected a quoted string, got {value!r}", node, path, "value")
        elif len(value) > MAX_STRING_CHARS:
            self.fail(f"value is longer than {MAX_STRING_CHARS} characters", node, path, "value")
        elif FIELDS[node.field].choices:
            self.choice(node, path)
        elif kind == "date":
            try:
                parse_date(value)
            except ValueError:
                self.fail(f"expected an ISO date like 2026-01-31 or 2026-01-31T10:00:00Z, "
                          f"got {value!r}", node, path, "value")
        elif kind == "regex":
            try:
                compile_regex(value, node.case)
            except RegexError as exc:
                self.fail(f"invalid regular expression: {exc}", node, path, "value")

    def choice(self, node: Condition, path: str) -> None:
        choices = FIELDS[node.field].choices
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        for i, item in enumerate(values):
            if choices and isinstance(item, str) and item.casefold() not in choices:
                where = f"value[{i}]" if isinstance(node.value, tuple) else "value"
                self.fail(f"unknown {node.field} {item!r} (known: {', '.join(choices)})",
                          node, path, where)

    def string_list(self, node: Condition, path: str) -> None:
        value = node.value
        if not isinstance(value, tuple) or not value:
            self.fail("expected a non-empty list of strings", node, path, "value")
        if len(value) > MAX_LIST_ITEMS:
            self.fail(f"list has more than {MAX_LIST_ITEMS} items", node, path, "value")
        for i, item in enumerate(value):
            if not isinstance(item, str) or len(item) > MAX_STRING_CHARS:
                self.fail(f"list item {i} must be a string of at most {MAX_STRING_CHARS} "
                          "characters", node, path, f"value[{i}]")
