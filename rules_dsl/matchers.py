"""One condition -> a fast closure over `ExtractedFields` (used by compiler.py).

Why it is fast: needles are casefolded once at compile time, field values once per email
(shared by all rules through `ExtractedFields`), and multi-valued tests become one `in`
on a joined string or a set instead of a Python loop where possible.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .ast import Condition
from .catalog import FIELDS, OPERATORS
from .extract import CF, FLAT, JOIN, SEP, SET, TEXT_FIELDS, ExtractedFields, key
from .values import compile_regex, parse_date, safe_search

Pred = Callable[[ExtractedFields], bool]
StrTest = Callable[[str], bool]


def positive_op(node: Condition) -> str:
    """The operator without its negation (`not_contains` -> `contains`)."""
    return OPERATORS[node.op].negates or node.op


def condition_pred(node: Condition) -> Pred:
    """The predicate for one validated condition; negated operators wrap the positive one."""
    pred = _positive(node, positive_op(node))
    if OPERATORS[node.op].negates:
        return lambda ef: not pred(ef)
    return pred


def needle(node: Condition) -> Any:
    """The compare value, casefolded unless `case` (a frozenset for `is any of`)."""
    value = node.value
    if isinstance(value, tuple):
        return frozenset(v if node.case else v.casefold() for v in value)
    if isinstance(value, str) and not node.case:
        return value.casefold()
    return value


def string_test(node: Condition, op: str) -> StrTest:
    """Test one string piece (already casefolded unless `case`) with positive `op`."""
    n = needle(node)
    if op == "contains":
        return lambda s: n in s
    if op == "equals":
        return lambda s: s == n
    if op == "begins_with":
        return lambda s: s.startswith(n)
    if op == "ends_with":
        return lambda s: s.endswith(n)
    if op == "is_any_of":
        return lambda s: s in n
    if op == "matches":
        return regex_search(node)
    return lambda s: not s.strip()  # is_empty


def regex_search(node: Condition) -> StrTest:
    """RE2 search on the raw (not casefolded) text; RE2 does the case folding."""
    search = compile_regex(str(node.value), node.case).search

    def test(s: str) -> bool:
        try:
            return search(s) is not None
        except UnicodeEncodeError:  # lone surrogates from a badly decoded header
            return safe_search(search, s) is not None

    return test


def _positive(node: Condition, op: str) -> Pred:
    kind = FIELDS[node.field].kind
    if kind == "flag":
        return lambda ef: bool(ef["has_attachment"])
    if kind == "size":
        return _size(op, node.value if isinstance(node.value, int) else 0)
    if kind == "date":
        return _date(op, node.value)
    if node.field in TEXT_FIELDS:
        return _text(node, op)
    if node.every:
        return _every(node, op)
    return _any(node, op)


def _size(op: str, n: int) -> Pred:
    if op == "lt":
        return lambda ef: ef["size"] < n
    if op == "le":
        return lambda ef: ef["size"] <= n
    if op == "gt":
        return lambda ef: ef["size"] > n
    return lambda ef: ef["size"] >= n


def _date(op: str, value: object) -> Pred:
    if op == "is_empty":
        return lambda ef: ef["date"] is None
    lo, hi = parse_date(str(value))
    # Date-only values cover a whole UTC day [lo, hi); datetimes have lo == hi.
    bound: Callable[[datetime], bool]
    if op in ("before", "lt"):
        bound = lo.__gt__
    elif op == "le":
        bound = hi.__gt__ if hi != lo else lo.__ge__
    elif op in ("after", "gt"):
        bound = hi.__le__ if hi != lo else lo.__lt__
    else:  # ge
        bound = lo.__le__

    def pred(ef: ExtractedFields) -> bool:
        moment = ef["date"]
        return moment is not None and bound(moment) is True

    return pred


def _text(node: Condition, op: str) -> Pred:
    raw = key(node.field)
    k = raw if node.case else raw + CF
    n = needle(node)
    if op == "contains":
        return lambda ef: n in ef[k]
    if op == "equals":
        return lambda ef: ef[k] == n
    if op == "begins_with":
        return lambda ef: ef[k].startswith(n)
    if op == "ends_with":
        return lambda ef: ef[k].endswith(n)
    if op == "is_any_of":
        return lambda ef: ef[k] in n
    if op == "is_empty":
        return lambda ef: not ef[raw].strip()
    test = regex_search(node)
    return lambda ef: test(ef[raw])


def _any(node: Condition, op: str) -> Pred:
    raw = key(node.field, node.header)
    k = raw if node.case else raw + CF
    n = needle(node)
    if op == "is_any_of":
        return lambda ef: not n.isdisjoint(ef[k + SET])
    if op == "is_empty":
        return lambda ef: not any(p.strip() for p in ef[raw + FLAT])
    if op == "matches":
        test = regex_search(node)
        return lambda ef: any(map(test, ef[raw + FLAT]))
    if isinstance(n, str) and n and SEP not in n:
        # One substring test on "\0a\0b\0" instead of a loop over the pieces.
        probe = {"contains": n, "begins_with": SEP + n, "ends_with": n + SEP}.get(op, SEP + n + SEP)
        joined = k + JOIN
        return lambda ef: probe in ef[joined]
    piece = string_test(node, op)
    flat = k + FLAT
    return lambda ef: any(map(piece, ef[flat]))


def _every(node: Condition, op: str) -> Pred:
    # `all`: at least one value, and each value has a piece (address or name) that matches.
    groups_key = key(node.field, node.header) + ("" if node.case or op == "matches" else CF)
    piece = string_test(node, op)

    def pred(ef: ExtractedFields) -> bool:
        groups = ef[groups_key]
        return bool(groups) and all(any(map(piece, g)) for g in groups)

    return pred
