"""FIELDS / OPERATORS metadata a rule-builder UI lists."""
from __future__ import annotations

from mailscanner.rules_dsl import FIELDS, OPERATORS, Condition, parse, value_type


def test_every_field_operator_pair_in_the_catalog_parses() -> None:
    samples = {"none": "", "string": '"a"', "regex": "/a/", "list": '["a"]', "size": "1KB",
               "date": "2026-01-31"}
    for field in FIELDS.values():
        for op in field.operators:
            if field.name == "has_attachment":
                continue
            name = 'header "X-A"' if field.name == "header" else field.name
            sample = samples[value_type(field.name, op)]
            if field.choices:
                sample = sample.replace("a", field.choices[0])
            text = f"{name} {OPERATORS[op].phrase} {sample}"
            root = parse(text.strip()).root
            assert isinstance(root, Condition) and root.op == op


def test_kind_field_offers_whole_value_operators_and_the_parser_s_kinds() -> None:
    kind = FIELDS["kind"]
    assert kind.choices == ("normal", "auto_reply", "bounce", "delivery_report", "feedback")
    assert kind.operators == ("equals", "not_equals", "is_any_of", "is_none_of")
    assert value_type("kind", "is_any_of") == "list"


def test_catalog_has_labels_and_the_issue_s_fields_and_operators() -> None:
    assert set(FIELDS) == {"from", "to", "cc", "bcc", "reply_to", "recipient", "subject",
                           "body", "header", "attachment", "has_attachment", "size", "date",
                           "folder", "from_domain", "kind"}
    assert all(f.label and f.help for f in FIELDS.values())
    assert OPERATORS["not_contains"].negates == "contains"
    assert OPERATORS["begins_with"].label == "Begins with"
    assert [f.name for f in FIELDS.values() if f.multi] == [
        "to", "cc", "bcc", "reply_to", "recipient", "header", "attachment"]
    assert value_type("size", "gt") == "size"
    assert value_type("subject", "is_any_of") == "list"
