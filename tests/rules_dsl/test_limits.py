"""Size and depth limits: a pasted megabyte is an error, never a crash or RecursionError."""
from __future__ import annotations

import json
from typing import Any

import pytest

from mailscanner.rules_dsl import Condition, RuleValidationError, compile, loads, parse, parse_any
from mailscanner.rules_dsl.catalog import MAX_DEPTH, MAX_NODES

from .emails import make_email


def test_a_megabyte_of_text_is_refused_with_a_position_inside_it() -> None:
    text = 'subject contains "' + "a" * 1_000_000 + '"'
    with pytest.raises(RuleValidationError, match="longer than 64 KiB") as caught:
        parse(text)
    assert caught.value.offset is not None and 0 <= caught.value.offset < len(text)
    assert len(str(caught.value)) < 500  # the caret line is clipped


def test_rule_text_just_under_the_limit_is_accepted() -> None:
    text = 'subject contains "' + "a" * 8000 + '"'
    root = parse(text).root
    assert isinstance(root, Condition) and root.value == "a" * 8000


def test_too_many_conditions_are_refused() -> None:
    text = " or ".join(['size > 1'] * (MAX_NODES + 1))
    with pytest.raises(RuleValidationError, match="more than 1000"):
        parse(text)


def test_many_conditions_within_the_limit_compile_and_run() -> None:
    text = " or ".join([f'subject contains "n{i}"' for i in range(MAX_NODES - 1)])
    compiled = compile(parse(text))
    assert compiled(make_email({"subject": "x n998 y"})) is True
    assert compiled(make_email({"subject": "nothing"})) is False


def test_deep_parentheses_are_refused_without_recursion_error() -> None:
    text = "(" * 100_000 + "size > 1" + ")" * 100_000
    with pytest.raises(RuleValidationError, match="nested deeper"):
        parse_any(text[:60_000])


def test_deep_json_text_is_refused_without_recursion_error() -> None:
    text = '{"v":1,' + '"not":{' * 50_000 + "}" * 50_000 + "}"
    with pytest.raises(RuleValidationError):
        loads(text)


def test_deep_json_arrays_are_refused_without_recursion_error() -> None:
    text = '{"v":1,"and":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(RuleValidationError):
        loads(text)


def test_deep_dict_is_refused_before_recursing() -> None:
    doc: dict[str, Any] = {"field": "size", "op": "gt", "value": 1}
    for _ in range(5000):
        doc = {"not": doc}
    with pytest.raises(RuleValidationError, match="nested deeper") as caught:
        loads({"v": 1, **doc})
    assert caught.value.path.count(".not") == MAX_DEPTH


def test_depth_limit_is_the_same_for_text_and_json() -> None:
    ok: dict[str, Any] = {"field": "size", "op": "gt", "value": 1}
    for _ in range(MAX_DEPTH - 1):
        ok = {"not": ok}
    assert loads({"v": 1, **ok}) == parse("not " * (MAX_DEPTH - 1) + "size > 1")
    with pytest.raises(RuleValidationError):
        loads({"v": 1, "not": ok})
    with pytest.raises(RuleValidationError):
        parse("not " * MAX_DEPTH + "size > 1")


def test_huge_json_text_is_refused() -> None:
    doc = {"v": 1, "field": "subject", "op": "contains", "value": "a" * 300_000}
    with pytest.raises(RuleValidationError, match="longer than"):
        loads(json.dumps(doc))


def test_huge_integer_in_json_is_a_rule_error() -> None:
    with pytest.raises(RuleValidationError):
        loads('{"v":1,"field":"size","op":"gt","value":' + "9" * 5000 + "}")


def test_overlong_value_and_list_are_refused() -> None:
    with pytest.raises(RuleValidationError, match="longer than 8192"):
        loads({"v": 1, "field": "subject", "op": "contains", "value": "a" * 9000})
    with pytest.raises(RuleValidationError, match="more than 1000 items"):
        loads({"v": 1, "field": "subject", "op": "is_any_of", "value": ["a"] * 1001})
