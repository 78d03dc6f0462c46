"""Hostile input only ever raises RuleError, and a text error points inside the input."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mailscanner.rules_dsl import RuleError, compile, loads, parse_any, to_text

from .emails import make_email
from .strategies import nodes

EMAIL = make_email({"subject": "Invoice 42", "from": "A <a@b.c>", "to": ["x@y.z"],
                    "body": "hello", "size": 10, "date": "2026-01-01T00:00:00+00:00",
                    "attachments": ["a.pdf"], "headers": {"X-A": ["1"]}})

TOKENS = ["subject", "from", "to", "header", '"X-A"', "body", "size", "date", "attachment",
          "has", "all", "any", "case", "contains", "not", "equals", "begins", "ends", "with",
          "matches", "is", "of", "empty", "none", "and", "or", "(", ")", "[", "]", ",", "<",
          "<=", ">", ">=", "before", "after", '"x"', '"å"', "/a(b)/", "/x/i", "/(/", "5MB",
          "10", "2026-01-31", "2026-01-31T10:00Z", "{", '"', "/", "\\", "\n", "recipient"]


def _check(text: str) -> None:
    try:
        rule = parse_any(text)
    except RuleError as exc:
        str(exc)  # rendering the caret must not fail either
        if not text.lstrip().startswith("{"):
            assert exc.offset is not None, exc
            assert 0 <= exc.offset <= len(text), (exc.offset, len(text))
        return
    compiled = compile(rule)
    assert compiled(EMAIL) in (True, False)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_rule_errors(text: str) -> None:
    _check(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_random_token_soup_raises_only_rule_errors(tokens: list[str]) -> None:
    _check(" ".join(tokens))


@settings(max_examples=300, deadline=None)
@given(nodes, st.data())
def test_mutated_valid_rules_raise_only_rule_errors(node: Any, data: st.DataObject) -> None:
    text = to_text(node)
    i = data.draw(st.integers(0, len(text)))
    mutation = data.draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
    char = data.draw(st.sampled_from(list('"/()[]\\ ,<>x5{') + ["and ", "not "]))
    mutated = {
        "delete": text[:i] + text[i + 1 :],
        "insert": text[:i] + char + text[i:],
        "replace": text[:i] + char + text[i + 1 :],
        "cut": text[:i],
    }[mutation]
    _check(mutated)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["subject", "contains", "and", "or", "not", "field", "op", "value", "v"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["v", "and", "or", "not", "field", "op", "value",
                                       "header", "all", "case", "x"]), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "and", "or", "not", "field", "op", "value",
                                        "all", "case", "header"]), json_values, max_size=5))
def test_random_json_documents_raise_only_rule_errors(doc: dict[str, Any]) -> None:
    try:
        rule = loads(doc)
    except RuleError:
        return
    assert compile(rule)(EMAIL) in (True, False)
