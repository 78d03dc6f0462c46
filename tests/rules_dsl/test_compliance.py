"""Data-driven compliance cases: every `cases/*.json` file, one parametrized runner.

A file is `{"email": {...}, "cases": [{"comment", "rule", "matches": bool} |
{"comment", "rule", "error": "syntax" | "validation", "path"?: "$..."}]}`; a case may
also carry `"captures": [...]`. `rule` is text, or a JSON object in the stored form.
Run one file with `RULES_CASE=regex.json pytest tests/rules_dsl/test_compliance.py`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mailscanner.rules_dsl import (
    RuleError,
    RuleSyntaxError,
    RuleValidationError,
    compile,
    dumps,
    explain,
    extract,
    loads,
    parse,
    parse_any,
    to_text,
)

from .emails import make_email

CASES = Path(__file__).parent / "cases"


def _files() -> list[Path]:
    only = os.environ.get("RULES_CASE")
    if only:
        path = Path(only) if Path(only).exists() else CASES / Path(only).name
        return [path]
    return sorted(CASES.glob("*.json"))


def _params() -> list[Any]:
    params = []
    for path in _files():
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, case in enumerate(data["cases"]):
            label = f"{path.stem}:{i}:{case.get('comment', '')}"[:90]
            params.append(pytest.param(data["email"], case, id=label))
    return params


@pytest.mark.parametrize(("email_data", "case"), _params())
def test_case(email_data: dict[str, Any], case: dict[str, Any]) -> None:
    if "error" in case:
        _check_error(case)
        return
    email = make_email(email_data)
    rule = parse_any(case["rule"])
    compiled = compile(rule)

    assert compiled(email) is case["matches"]
    assert compiled.evaluate(extract(email)) is case["matches"]
    assert explain(rule, email).result is case["matches"]
    # The two forms describe the same rule. (A one-child group from JSON prints as its
    # child, so only text input is required to come back as the identical tree.)
    if isinstance(case["rule"], str) and not case["rule"].lstrip().startswith("{"):
        assert parse(to_text(rule)) == rule
    assert to_text(parse(to_text(rule))) == to_text(rule)
    assert loads(dumps(rule)) == rule
    if "captures" in case:
        expected = case["captures"]
        assert compiled.captures(email) == (tuple(expected) if expected is not None else None)


def _check_error(case: dict[str, Any]) -> None:
    kinds: dict[str, type[RuleError]] = {
        "syntax": RuleSyntaxError,
        "validation": RuleValidationError,
    }
    expected = kinds[case["error"]]
    rule = case["rule"]
    with pytest.raises(expected) as caught:
        parse_any(rule)
    error = caught.value
    if isinstance(rule, str) and not rule.lstrip().startswith("{"):
        # Errors in text always point inside it, with a caret line.
        assert error.offset is not None
        assert 0 <= error.offset <= len(rule)
        assert "^" in str(error)
    if "path" in case:
        assert isinstance(error, RuleValidationError)
        assert error.path == case["path"]
    if "message" in case:
        assert case["message"] in str(error)
