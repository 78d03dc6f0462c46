"""The one AST behind both forms of a rule (stored JSON and text for people).

Nodes are frozen dataclasses and compare by meaning: source positions (`spans`) are kept
for error messages but ignored by `==`, so `parse(print(x)) == x` is a plain equality.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field

# (start, end) offsets into the rule's source text.
Span = tuple[int, int]
# str: text, regex pattern or ISO date; int: size in bytes; tuple: `is any of` list.
Value = str | int | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Condition:
    """`[all] <field> <op> [case] [value]`, e.g. `subject contains "invoice"`.

    `every` is the explicit `all` quantifier for multi-valued fields; `case` makes the
    comparison case-sensitive; `header` names the header when `field == "header"`.
    `spans` maps JSON keys ("field", "op", "value", ...) and "" (whole node) to text spans.
    """

    field: str
    op: str
    value: Value = None
    header: str | None = None
    every: bool = False
    case: bool = False
    spans: Mapping[str, Span] = _field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """All children must match. Never empty (validation rejects `{"and": []}`)."""

    children: tuple[Node, ...]
    spans: Mapping[str, Span] = _field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must match. Never empty."""

    children: tuple[Node, ...]
    spans: Mapping[str, Span] = _field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """The child must not match."""

    child: Node
    spans: Mapping[str, Span] = _field(default_factory=dict, compare=False, hash=False, repr=False)


Node = Condition | And | Or | Not


@dataclass(frozen=True, slots=True)
class Rule:
    """A whole rule: its root node, plus the text it was parsed from (for caret errors)."""

    root: Node
    source: str | None = _field(default=None, compare=False, hash=False, repr=False)


def walk(node: Node) -> list[Node]:
    """All nodes in tree order (pre-order, left to right), iteratively (no recursion)."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, (And, Or)):
            stack.extend(reversed(current.children))
        elif isinstance(current, Not):
            stack.append(current.child)
    return out
