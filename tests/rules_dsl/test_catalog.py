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
            text = f"{name} {OPERATORS[op].phrase} {samples[value_type(field.name, op)]}"
            root = parse(text.strip()).root
            assert isinstance(root, Condition) and root.op == op


def test_catalog_has_labels_and_the_issue_s_fields_and_operators() -> None:
    assert set(FIELDS) == {"from", "to", "cc", "bcc", "reply_to", "recipient", "subject",
                           "body", "header", "attachment", "has_attachment", "size", "date",
                           "folder", "from_domain"}
    assert all(f.label and f.help for f in FIELDS.values())
    assert OPERATORS["not_contains"].negates == "contains"
    assert OPERATORS["begins_with"].label == "Begins with"
    assert [f.name for f in FIELDS.values() if f.multi] == [
        "to", "cc", "bcc", "reply_to", "recipient", "header", "attachment"]
    assert value_type("size", "gt") == "size"
    assert value_type("subject", "is_any_of") == "list"
