"""Compiled rules: the predicate API, shared extraction, laziness, caching, captures and
IMAP pre-search criteria."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mailscanner.rules_dsl import CompiledRule, compile, extract, parse
from mailscanner.rules_dsl.view import EmailView

from .emails import Address, FakeEmail, make_email

EMAIL = make_email({
    "subject": "[TT123] Invoice", "from": "Alice <alice@acme.com>", "to": ["bob@x.org"],
    "body": "please pay", "size": 2048, "headers": {"X-Priority": ["1"]},
})


@dataclass(frozen=True)
class CountingEmail(FakeEmail):
    """Counts reads of the (possibly expensive) body and of the subject."""

    reads: dict[str, int] = field(default_factory=dict)

    def __getattribute__(self, name: str) -> Any:
        if name in ("text_body", "subject"):
            reads = object.__getattribute__(self, "reads")
            reads[name] = reads.get(name, 0) + 1
        return object.__getattribute__(self, name)


def test_compiled_rule_is_a_predicate_on_an_email_view() -> None:
    rule = compile(parse('subject contains "invoice" and size > 1KB'))
    assert isinstance(rule, CompiledRule)
    assert rule(EMAIL) is True
    assert rule(make_email({"subject": "invoice", "size": 10})) is False


def test_compile_accepts_text_json_and_dicts() -> None:
    by_text = compile('subject contains "x"')
    by_json = compile('{"v":1,"field":"subject","op":"contains","value":"x"}')
    by_dict = compile({"v": 1, "field": "subject", "op": "contains", "value": "x"})
    assert by_text is by_json is by_dict  # one cache entry per serialized form


def test_compiled_rules_are_cached_by_serialized_form() -> None:
    assert compile(parse('subject contains "y"')) is compile(parse('  subject CONTAINS "y"'))
    assert compile(parse('subject contains "y"')) is not compile(parse('subject contains "z"'))


def test_fields_lists_what_the_rule_reads() -> None:
    rule = compile(parse('subject contains "a" or header "X-Tag" equals "b" or size > 1'))
    assert rule.fields == {"subject", "header", "size"}
    assert rule.headers == {"x-tag"}
    assert "body" not in rule.fields
    assert "body" in compile(parse('not body contains "x"')).fields


def test_body_is_not_read_when_no_rule_needs_it() -> None:
    email = CountingEmail(subject="hello", text_body="secret")
    compile(parse('subject contains "hello"'))(email)
    assert email.reads.get("text_body", 0) == 0


def test_body_is_not_read_when_a_cheaper_condition_already_decided() -> None:
    email = CountingEmail(subject="hello", text_body="pay now", size=10)
    rule = compile(parse('body contains "pay" and size > 1MB'))
    assert rule(email) is False
    assert email.reads.get("text_body", 0) == 0


def test_shared_extraction_reads_each_field_once_for_many_rules() -> None:
    email = CountingEmail(subject="Invoice 7", text_body="x")
    values = extract(email)
    rules = [compile(parse(f'subject contains "{w}"')) for w in ("invoice", "7", "nope", "in")]
    assert [r.evaluate(values) for r in rules] == [True, True, False, True]
    assert email.reads["subject"] == 1


def test_captures_returns_the_first_matching_regex_groups() -> None:
    rule = compile(parse('from ends with "@acme.com" and subject matches /\\[TT(\\d+)\\]/'))
    assert rule.captures(EMAIL) == ("123",)
    assert rule.captures(extract(EMAIL)) == ("123",)
    assert rule.captures(make_email({"subject": "[TT5]", "from": "x@y.z"})) is None


def test_captures_keep_the_original_case() -> None:
    rule = compile(parse('subject matches /\\[(tt\\d+)\\]/'))
    assert rule.captures(EMAIL) == ("TT123",)


def test_regex_tolerates_lone_surrogates_in_email_text() -> None:
    email = FakeEmail(subject="bad \udcff byte TT9", from_=Address("a@b.c"))
    rule = compile(parse("subject matches /TT(\\d)/"))
    assert rule(email) is True
    assert rule.captures(email) == ("9",)
    assert compile(parse('subject contains "byte"'))(email) is True


def test_compiled_rule_works_on_any_email_view_implementation() -> None:
    @dataclass(frozen=True)
    class Minimal:
        subject: str = "hi"
        from_: Address | None = None
        to: tuple[Address, ...] = ()
        cc: tuple[Address, ...] = ()
        bcc: tuple[Address, ...] = ()
        reply_to: tuple[Address, ...] = ()
        text_body: str = ""
        attachments: tuple[Any, ...] = ()
        size: int = 0
        date: None = None
        folder: str = "INBOX"
        kind: str = "bounce"

        def header(self, name: str) -> list[str]:
            return ["v"] if name.lower() == "x-a" else []

    view: EmailView = Minimal()
    assert compile(parse('header "X-A" equals "v" and subject equals "HI"'))(view) is True
    assert compile(parse("kind is bounce"))(view) is True


def test_server_searchable_gives_imap_criteria_for_plain_conjunctions() -> None:
    rule = compile(parse('subject contains "invoice" and from contains "@acme.com" and '
                         'header "X-Priority" contains "1" and size > 1MB'))
    assert rule.server_searchable == ["SUBJECT", "invoice", "FROM", "@acme.com",
                                      "HEADER", "X-Priority", "1", "LARGER", "1048576"]


def test_server_searchable_drops_what_imap_cannot_answer() -> None:
    rule = compile(parse('subject contains "invoice" and body matches /x/'))
    assert rule.server_searchable == ["SUBJECT", "invoice"]
    assert compile(parse('subject contains "a" or from contains "b"')).server_searchable is None
    assert compile(parse('not subject contains "a"')).server_searchable is None
    assert compile(parse('subject contains "åsa"')).server_searchable is None
    assert compile(parse("size <= 10")).server_searchable == ["SMALLER", "11"]


def test_lru_cache_evicts_the_least_recently_used(monkeypatch: Any) -> None:
    from mailscanner.rules_dsl import compiler

    monkeypatch.setattr(compiler, "CACHE_SIZE", 2)
    monkeypatch.setattr(compiler, "_cache", OrderedDict())
    a = compile('subject contains "lru-a"')
    compile('subject contains "lru-b"')
    assert compile('subject contains "lru-a"') is a  # a is now the most recent
    compile('subject contains "lru-c"')  # evicts b
    assert compile('subject contains "lru-a"') is a
    assert set(compiler._cache) == {a.key, compile('subject contains "lru-c"').key}


def test_hand_built_ast_with_bad_values_is_a_validation_error() -> None:
    from mailscanner.rules_dsl import Condition, RuleValidationError

    with pytest.raises(RuleValidationError):
        compile(Condition("subject", "contains", cast(Any, {1, 2})))
    with pytest.raises(RuleValidationError):
        compile(Condition("subject", cast(Any, ["contains"]), "x"))


def test_wide_groups_short_circuit_correctly() -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    every = compile(" and ".join(f'body contains "{w}"' for w in words))
    some = compile(" or ".join(f'body contains "{w}"' for w in words))
    full = make_email({"body": " ".join(words)})
    partial = make_email({"body": "gamma only"})
    assert (every(full), every(partial), some(partial)) == (True, False, True)
    assert some(make_email({"body": "none"})) is False


def test_all_quantifier_captures_from_the_first_value() -> None:
    rule = compile(parse('all header "X-T" matches /t(\\d)/'))
    assert rule.captures(make_email({"headers": {"X-T": ["t1", "t2"]}})) == ("1",)
    either = compile(parse('all header "X-T" matches /t(\\d)/ or subject matches /(s)/'))
    assert either.captures(make_email({"subject": "s", "headers": {"X-T": ["x", "t2"]}})) == ("s",)


def test_a_compiled_rule_pickles_to_the_same_rule() -> None:
    # Rules travel to the scanner's parse processes; closures do not pickle, the rule does.
    import pickle

    rule = compile('subject contains "refund" and not from ends with "@example.com"')
    again = pickle.loads(pickle.dumps(rule))
    assert again.key == rule.key
    email = make_email({"subject": "Refund please", "from": "a@customer.test"})
    assert again(email) is rule(email) is True
