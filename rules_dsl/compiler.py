"""AST -> predicate functions built from closures (no eval/exec).

    compiled = compile(parse('subject contains "invoice" and size > 1MB'))
    compiled(email)                   # -> bool, extracts what it needs from the email
    values = extract(email)           # share one extraction between many rules:
    [r.evaluate(values) for r in rules]

Steps: (1) validate (each distinct rule once: compiled rules are cached by their
serialized form in an LRU), (2) turn each condition into a closure (matchers.py),
(3) combine children with short-circuit closures, cheapest child first (a body regex
runs last, and the body is not even read when an earlier condition already decided),
(4) record the fields the rule reads and its positive regex conditions for `captures()`.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .ast import And, Condition, Node, Not, Or, Rule, walk
from .extract import FLAT, TEXT_FIELDS, ExtractedFields, extract, key
from .matchers import Pred, condition_pred, positive_op
from .serialize import dumps
from .validate import validate
from .values import compile_regex, safe_search
from .view import EmailView

CACHE_SIZE = 1024
_COST = {"size": 1, "date": 1, "has_attachment": 1, "folder": 1, "subject": 2, "from": 2,
         "from_domain": 2, "header": 3, "attachment": 3, "body": 8}
_cache: OrderedDict[str, CompiledRule] = OrderedDict()
_lock = threading.Lock()


class CompiledRule:
    """A validated rule as a predicate. Call it on an EmailView, or `evaluate()` shared
    `extract(email)` values. `fields` is the set of field names it reads ("body" only if
    some condition needs the body); `headers` the lower-cased header names it reads."""

    def __init__(self, rule: Rule, source_key: str) -> None:
        self.rule = rule
        self.key = source_key
        nodes = walk(rule.root)
        conditions = [n for n in nodes if isinstance(n, Condition)]
        self.fields = frozenset(c.field for c in conditions)
        self.headers = frozenset(str(c.header).lower() for c in conditions if c.header)
        self._pred = _build(rule.root)
        self._regexes = _capture_conditions(rule.root)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Closures do not pickle; the canonical JSON does, and compiles back to this rule
        # (from the cache when the receiving process compiled it before).
        return compile_rule, (self.key,)

    def __call__(self, email: EmailView) -> bool:
        return self._pred(extract(email))

    def evaluate(self, values: ExtractedFields) -> bool:
        """Fast path: evaluate on values shared with other rules (`extract(email)`)."""
        return self._pred(values)

    def captures(self, email: EmailView | ExtractedFields) -> tuple[str, ...] | None:
        """Groups captured by the first (left-to-right) `matches` condition that matched,
        outside any `not`, when the whole rule matches; None if the rule does not match or
        no such condition matched. Non-participating groups are "". Example: for
        `subject matches /\\[TT(\\d+)\\]/` and subject "Re: [TT123]" -> ("123",).
        """
        values = email if isinstance(email, ExtractedFields) else extract(email)
        if not self._pred(values):
            return None
        for field_key, search, every in self._regexes:
            for text in _single(values, field_key):
                match = safe_search(search, text)
                if match is not None:
                    return tuple(g or "" for g in match.groups())
                if every:
                    break
        return None

    @property
    def server_searchable(self) -> list[str] | None:
        """IMAP `UID SEARCH` criteria that preselect a superset of the matches, or None."""
        from .imap import search_criteria

        return search_criteria(self.rule.root)

    def __repr__(self) -> str:
        return f"CompiledRule({self.key})"


def compile_rule(rule: Rule | Node | str | dict[str, Any]) -> CompiledRule:
    """Compile a rule (AST, text, JSON text or dict) to a cached `CompiledRule`."""
    if isinstance(rule, (str, dict)):
        from . import parse_any

        rule = parse_any(rule)
    if not isinstance(rule, Rule):
        rule = Rule(rule)
    try:
        cache_key = dumps(rule)
    except (TypeError, ValueError):  # a hand-built AST holding odd values
        validate(rule)
        raise
    with _lock:
        hit = _cache.get(cache_key)
        if hit is not None:
            _cache.move_to_end(cache_key)
            return hit
    validate(rule)
    compiled = CompiledRule(rule, cache_key)
    with _lock:
        _cache[cache_key] = compiled
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _build(node: Node) -> Pred:
    if isinstance(node, Condition):
        return condition_pred(node)
    if isinstance(node, Not):
        child = _build(node.child)
        return lambda ef: not child(ef)
    ordered = sorted(node.children, key=_cost)
    preds = [_build(c) for c in ordered]
    return _all(preds) if isinstance(node, And) else _any(preds)


def _all(preds: Sequence[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ef: a(ef) and b(ef)
    if len(preds) == 3:
        a, b, c = preds
        return lambda ef: a(ef) and b(ef) and c(ef)
    group = tuple(preds)

    def every(ef: ExtractedFields) -> bool:
        # An explicit loop, not all(<generator>): about twice as fast on this hot path.
        for pred in group:  # noqa: SIM110
            if not pred(ef):
                return False
        return True

    return every


def _any(preds: Sequence[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ef: a(ef) or b(ef)
    if len(preds) == 3:
        a, b, c = preds
        return lambda ef: a(ef) or b(ef) or c(ef)
    group = tuple(preds)

    def some(ef: ExtractedFields) -> bool:
        # An explicit loop, not any(<generator>): about twice as fast on this hot path.
        for pred in group:  # noqa: SIM110
            if pred(ef):
                return True
        return False

    return some


def _cost(node: Node) -> int:
    return max((_condition_cost(n) for n in walk(node) if isinstance(n, Condition)), default=1)


def _condition_cost(node: Condition) -> int:
    regex = 4 if positive_op(node) == "matches" else 0
    return _COST.get(node.field, 2) + regex


def _capture_conditions(root: Node) -> list[tuple[str, Callable[[str], Any], bool]]:
    """(values key, RE2 search, every) of each `matches` condition not under a `not`."""
    out: list[tuple[str, Callable[[str], Any], bool]] = []
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, (And, Or)):
            stack.extend(reversed(node.children))
        elif isinstance(node, Condition) and node.op == "matches":
            base = key(node.field, node.header)
            field_key = base if node.field in TEXT_FIELDS else base + FLAT
            regex = compile_regex(str(node.value), node.case)
            out.append((field_key, regex.search, node.every))
    return out


def _single(values: ExtractedFields, field_key: str) -> Sequence[str]:
    value = values[field_key]
    return (value,) if isinstance(value, str) else value

