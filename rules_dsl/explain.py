"""Dry run: why did a rule fire, or not? `explain(rule, email)` evaluates every node (no
short-circuit) and returns a tree of `Explanation`s with each node's result, the field
values the condition looked at, the values that satisfied its (positive) test and, for
regexes, the matched text and captured groups. `to_dict()` is JSON-serialisable.

For a negated operator (`not contains`, `is none of`, ...) `matched` lists the values that
satisfied the positive test, i.e. the reason the condition is false.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .ast import And, Condition, Node, Not, Rule
from .catalog import FIELDS
from .compiler import CompiledRule, compile_rule
from .extract import CF, TEXT_FIELDS, ExtractedFields, Groups, extract, key
from .matchers import condition_pred, positive_op, string_test
from .printer import condition_text, to_text
from .values import compile_regex, safe_search
from .view import EmailView

_MAX_SHOWN = 20  # values per condition
_MAX_CHARS = 200  # characters per value
# A dry run explains the same few rules on hundreds of messages: what depends only on a
# node (its text, its predicate, its test) is built once per node, not once per message.
_text = lru_cache(maxsize=4096)(to_text)
_condition_text = lru_cache(maxsize=4096)(condition_text)
_pred = lru_cache(maxsize=4096)(condition_pred)
_test = lru_cache(maxsize=4096)(string_test)


@dataclass
class Explanation:
    """One node's outcome. `kind` is "and", "or", "not" or "condition"; `text` the node in
    canonical text; `path` its JSON path in the stored form."""

    kind: str
    result: bool
    text: str
    path: str
    children: list[Explanation] = field(default_factory=list)
    values: list[Any] | None = None
    matched: list[str] = field(default_factory=list)
    match: str | None = None
    groups: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (children nested the same way)."""
        out: dict[str, Any] = {"kind": self.kind, "result": self.result, "text": self.text,
                               "path": self.path}
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        if self.kind == "condition":
            out["values"] = self.values
            out["matched"] = self.matched
        if self.match is not None:
            out["match"] = self.match
            out["groups"] = list(self.groups or ())
        return out


def explain(rule: Rule | Node | str | dict[str, Any] | CompiledRule,
            email: EmailView | ExtractedFields) -> Explanation:
    """Explain `rule` (any form, or compiled; validated) on `email` (or shared
    `extract(email)` values)."""
    compiled = rule if isinstance(rule, CompiledRule) else compile_rule(rule)
    root = compiled.rule.root
    values = email if isinstance(email, ExtractedFields) else extract(email)
    return _node(root, values, "$")


def _node(node: Node, ef: ExtractedFields, path: str) -> Explanation:
    if isinstance(node, Condition):
        return _condition(node, ef, path)
    if isinstance(node, Not):
        child = _node(node.child, ef, f"{path}.not")
        return Explanation("not", not child.result, _text(node), path, [child])
    name = "and" if isinstance(node, And) else "or"
    children = [_node(c, ef, f"{path}.{name}[{i}]") for i, c in enumerate(node.children)]
    results = [c.result for c in children]
    result = all(results) if isinstance(node, And) else any(results)
    return Explanation(name, result, _text(node), path, children)


def _condition(node: Condition, ef: ExtractedFields, path: str) -> Explanation:
    out = Explanation("condition", _pred(node)(ef), _condition_text(node), path)
    kind = FIELDS[node.field].kind
    if kind in ("flag", "size", "date"):
        raw_value = ef[{"flag": "has_attachment"}.get(kind, node.field)]
        out.values = [raw_value.isoformat() if hasattr(raw_value, "isoformat") else raw_value]
        return out
    raw = _groups(ef, key(node.field, node.header))
    out.values = [_show(_label(g)) for g in raw[:_MAX_SHOWN]]
    op = positive_op(node)
    if op == "is_empty":
        return out
    regex = op == "matches"
    compared = raw if node.case or regex else _groups(ef, key(node.field, node.header, CF))
    test = _test(node, op)
    for raw_group, cmp_group in zip(raw, compared, strict=True):
        out.matched += [_show(r) for r, c in zip(raw_group, cmp_group, strict=True) if test(c)]
    if regex:
        search = compile_regex(str(node.value), node.case).search
        for text in (p for g in raw for p in g):
            found = safe_search(search, text)
            if found is not None:
                out.match = _show(found.group(0))
                out.groups = tuple(g or "" for g in found.groups())
                break
    return out


def _groups(ef: ExtractedFields, field_key: str) -> Groups:
    value = ef[field_key]
    return ((value,),) if field_key.split("\x01")[0] in TEXT_FIELDS else tuple(value)


def _label(group: tuple[str, ...]) -> str:
    if len(group) == 2:  # (address, name)
        address, name = group
        return f"{name} <{address}>" if name else address
    return group[0]


def _show(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "…"
