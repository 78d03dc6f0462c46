"""explain(): why a rule fired or not, as a JSON-serialisable tree."""
from __future__ import annotations

import json

from mailscanner.rules_dsl import explain, parse

from .emails import make_email

EMAIL = make_email({
    "subject": "Re: [TT123] Invoice", "from": "Alice Andersson <alice@acme.com>",
    "to": ["Bob <bob@x.org>", "carol@y.org"], "body": "To unsubscribe click", "size": 2048,
    "date": "2026-01-31T10:00:00+00:00", "attachments": ["a.pdf"],
})


def test_explain_shows_each_condition_result_and_the_matched_values() -> None:
    rule = parse('subject contains "invoice" and (from ends with "@other.com" or '
                 'to equals "bob") and not body matches /unsub\\w+/')
    result = explain(rule, EMAIL)
    assert result.result is False
    assert result.kind == "and"
    subject, either, negated = result.children
    assert (subject.result, subject.values, subject.matched) == (
        True, ["Re: [TT123] Invoice"], ["Re: [TT123] Invoice"])
    assert either.result is True
    assert [c.result for c in either.children] == [False, True]
    assert either.children[1].matched == ["Bob"]
    assert either.children[1].values == ["Bob <bob@x.org>", "carol@y.org"]
    assert negated.result is False
    assert negated.children[0].match == "unsubscribe"
    assert negated.children[0].path == "$.and[2].not"


def test_explain_reports_regex_groups_and_paths() -> None:
    result = explain('subject matches /\\[TT(\\d+)\\]/', EMAIL)
    assert (result.result, result.match, result.groups, result.path) == (
        True, "[TT123]", ("123",), "$")


def test_explain_evaluates_every_branch_without_short_circuit() -> None:
    result = explain('size > 1MB and subject contains "invoice"', EMAIL)
    assert [c.result for c in result.children] == [False, True]
    assert result.children[0].values == [2048]


def test_explain_to_dict_is_json_serialisable() -> None:
    result = explain('has attachment and date before 2026-02-01 and not to is empty', EMAIL)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["result"] is True
    assert data["text"] == "has attachment and date before 2026-02-01 and not to is empty"
    assert data["children"][1]["values"] == ["2026-01-31T10:00:00+00:00"]
    assert data["children"][0]["values"] == [True]


def test_explain_negated_operator_lists_the_offending_value() -> None:
    result = explain('to not contains "carol"', EMAIL)
    assert result.result is False
    assert result.matched == ["carol@y.org"]


def test_explain_all_form_lists_every_matching_value() -> None:
    result = explain('all to contains ".org"', EMAIL)
    assert result.result is True
    assert result.matched == ["bob@x.org", "carol@y.org"]


def test_explain_clips_long_values() -> None:
    email = make_email({"body": "x" * 5000})
    result = explain('body contains "x"', email)
    assert result.values is not None and len(result.values[0]) == 201
