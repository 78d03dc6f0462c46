"""Both forms round-trip losslessly: text -> AST -> text and JSON -> AST -> JSON."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from mailscanner.rules_dsl import (
    And,
    Condition,
    Node,
    Or,
    Rule,
    dumps,
    loads,
    parse,
    to_json,
    to_text,
    validate,
)

from .strategies import nodes

CANONICAL = [
    'subject contains "invoice"',
    'subject contains "invoice" and (from ends with "@acme.com" or header "X-Priority" equals '
    '"1") and not body matches /unsubscribe/',
    'all to ends with "@acme.com"',
    'subject contains case "Invoice"',
    'subject is any of ["a", "b"]',
    'attachment is none of case ["A.PDF"]',
    "size > 5MB",
    "size <= 1536KB",
    "size < 1000",
    "date before 2026-01-31",
    "date >= 2026-01-31T10:00:00+02:00",
    "has attachment",
    "not has attachment",
    "not not has attachment",
    'not (subject contains "a" or subject contains "b")',
    'subject contains "a" or (subject contains "b" and size > 1KB)',
    'subject contains "a" and (subject contains "b" and subject contains "c")',
    'header "X-Priority" is empty',
    'body matches /^a\\/b$/',
    'body matches "a/b"',
    'body matches "line\\nbreak"',
    'subject contains "quote \\" backslash \\\\ tab \\t"',
    'subject contains "\\u0001"',
    'from_domain is not empty',
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_text_prints_back_unchanged(text: str) -> None:
    assert to_text(parse(text)) == text


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ('SUBJECT  Contains "x"', 'subject contains "x"'),
        ("size > 5242880", "size > 5MB"),
        ("size > 1.5MB", "size > 1536KB"),
        ("size > 5mib", "size > 5MB"),
        ('body matches /x/s', 'body matches /(?s)x/'),
        ('body matches /x/i', 'body matches /x/'),
        ('any to contains "x"', 'to contains "x"'),
        ('(subject contains "x")', 'subject contains "x"'),
        ('subject contains "x" or (subject contains "y")',
         'subject contains "x" or subject contains "y"'),
        ('subject contains "a" or subject contains "b" and size > 1KB',
         'subject contains "a" or (subject contains "b" and size > 1KB)'),
        ('subject is any of ["a", "b",]', 'subject is any of ["a", "b"]'),
        ('date before "2026-01-31"', "date before 2026-01-31"),
        ("date before 2026-01-31t10:00z", "date before 2026-01-31T10:00Z"),
        ('subject contains "\\u00e5"', 'subject contains "å"'),
    ],
)
def test_printing_gives_canonical_text(written: str, canonical: str) -> None:
    assert to_text(parse(written)) == canonical
    assert parse(canonical) == parse(written)


def test_stored_form_is_compact_versioned_json() -> None:
    rule = parse('subject contains "å" and all to ends with "@acme.com"')
    assert dumps(rule) == (
        '{"v":1,"and":[{"field":"subject","op":"contains","value":"å"},'
        '{"field":"to","op":"ends_with","value":"@acme.com","all":true}]}'
    )
    assert to_json(rule) == json.loads(dumps(rule))


def test_json_text_round_trips_byte_for_byte() -> None:
    stored = ('{"v":1,"or":[{"not":{"field":"has_attachment","op":"is_true"}},'
              '{"field":"header","header":"X-Tag","op":"is_any_of","value":["a","b"],"case":true},'
              '{"field":"size","op":"gt","value":5242880}]}')
    assert dumps(loads(stored)) == stored


def test_control_characters_and_lone_surrogates_survive_the_text_form() -> None:
    node = Condition("subject", "contains", "a\x00b\udc80c\u2028")
    assert to_text(node) == 'subject contains "a\\u0000b\\udc80c\u2028"'
    assert parse(to_text(node)).root == node


def test_positions_do_not_affect_equality() -> None:
    assert parse('subject contains "x"') == parse('   subject   contains "x"')


@settings(max_examples=300, deadline=None)
@given(nodes)
def test_generated_rules_round_trip_through_text(node: Node) -> None:
    validate(node)  # the strategy only builds valid rules
    text = to_text(node)
    assert parse(text) == Rule(node), text
    assert to_text(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(nodes)
def test_generated_rules_round_trip_through_json(node: Node) -> None:
    stored = dumps(node)
    assert loads(stored) == Rule(node)
    assert dumps(loads(stored)) == stored
    assert loads(to_json(node)) == Rule(node)


def test_one_child_group_keeps_its_shape_in_json_and_prints_as_its_child() -> None:
    stored = '{"v":1,"and":[{"field":"subject","op":"contains","value":"x"}]}'
    rule = loads(stored)
    assert rule.root == And((Condition("subject", "contains", "x"),))
    assert dumps(rule) == stored
    assert to_text(rule) == 'subject contains "x"'


def test_nested_groups_keep_their_shape_through_text() -> None:
    a, b, c = (Condition("subject", "contains", v) for v in "abc")
    for node in (And((a, And((b, c)))), Or((Or((a, b)), c)), And((Or((a, b)), c))):
        assert parse(to_text(node)).root == node


def test_kind_is_word_prints_in_its_canonical_equals_form() -> None:
    from mailscanner.rules_dsl import parse, to_text

    assert to_text(parse("kind is feedback")) == 'kind equals "feedback"'
    assert to_text(parse("kind is not bounce")) == 'kind not equals "bounce"'
    assert parse(to_text(parse("kind is delivery_report"))) == parse("kind is delivery_report")
