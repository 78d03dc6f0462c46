"""Text form, the way back: AST -> canonical text.

Canonical means: lower-case keywords, one space between tokens, every nested group in
parentheses (so `parse(to_text(r)) == r` holds even for groups built in JSON), strings in
double quotes with JSON-like escapes, regexes as `/.../` when that spelling is lossless
(else as a quoted string), sizes with the largest exact unit (5MB), dates bare.
"""
from __future__ import annotations

from .ast import And, Condition, Node, Not, Or, Rule
from .catalog import FIELDS, OPERATORS, REGEX_OPS
from .values import DATE_TEXT, format_size

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def to_text(rule: Rule | Node) -> str:
    """Print a rule as canonical text, e.g. `subject contains "x" and not has attachment`."""
    return _node(rule.root if isinstance(rule, Rule) else rule)


def _node(node: Node) -> str:
    if isinstance(node, Condition):
        return condition_text(node)
    if isinstance(node, Not):
        child = node.child
        inner = _node(child)
        return f"not ({inner})" if isinstance(child, (And, Or)) else f"not {inner}"
    word = " and " if isinstance(node, And) else " or "
    if len(node.children) == 1:  # a one-child group from JSON prints as its child
        return _node(node.children[0])
    parts = [f"({_node(c)})" if _needs_parens(c) else _node(c) for c in node.children]
    return word.join(parts)


def _needs_parens(child: Node) -> bool:
    return isinstance(child, (And, Or)) and len(child.children) > 1


def condition_text(node: Condition) -> str:
    """One condition in canonical text."""
    if node.field == "has_attachment" and node.op == "is_true":
        return "has attachment"
    parts = ["all"] if node.every else []
    parts.append(node.field)
    if node.header is not None:
        parts.append(quote(node.header))
    parts.append(OPERATORS[node.op].phrase if node.op in OPERATORS else node.op)
    if node.case:
        parts.append("case")
    if node.value is not None:
        parts.append(value_text(node))
    return " ".join(parts)


def value_text(node: Condition) -> str:
    """The value as it is written in text."""
    value = node.value
    if isinstance(value, tuple):
        return "[" + ", ".join(quote(v) for v in value) + "]"
    if isinstance(value, int):
        return format_size(value)
    assert isinstance(value, str)
    if node.op in REGEX_OPS and _slash_safe(value):
        return f"/{value}/"
    kind = FIELDS[node.field].kind if node.field in FIELDS else ""
    if kind == "date" and DATE_TEXT.fullmatch(value):
        return value
    return quote(value)


def quote(text: str) -> str:
    """Double-quote `text`, escaping quotes, backslashes, controls and lone surrogates."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _slash_safe(pattern: str) -> bool:
    """True if `/pattern/` lexes back to exactly `pattern` with no flags folded in."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch in "/\n":
            return False
        if ch == "\\":
            if i + 1 >= n or pattern[i + 1] == "\n":
                return False
            i += 2
        else:
            i += 1
    return True

