"""Every ``fixtures/*.eml`` parses to exactly what its hand-written ``.json`` says.

The JSON files use the ``mailscanner inspect --json`` shape. ``MAIL_FIXTURE=<name>`` runs one.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from mailscanner.cli.inspect import to_json_dict
from mailscanner.mail.parsing import parse_email

FIXTURES = Path(__file__).parent / "fixtures"
_ONLY = os.environ.get("MAIL_FIXTURE")
CASES = sorted(p.stem for p in FIXTURES.glob("*.eml") if not _ONLY or p.stem == _ONLY)


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    expected = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return raw, expected


def test_every_fixture_has_an_expected_json() -> None:
    emls = {p.stem for p in FIXTURES.glob("*.eml")}
    jsons = {p.stem for p in FIXTURES.glob("*.json")}
    assert emls == jsons
    assert len(emls) >= 25


@pytest.mark.parametrize("name", CASES)
def test_fixture_parses_to_its_expected_json(name: str) -> None:
    raw, expected = load(name)
    actual = to_json_dict(parse_email(raw))
    assert list(actual) == list(expected)
    for key in expected:
        assert actual[key] == expected[key], key


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("decoded", [False, True], ids=["lazy", "decoded-ahead"])
def test_a_parsed_mail_sent_to_another_process_reads_the_same(name: str, decoded: bool) -> None:
    # The scanner parses in a worker process and pickles the result back (scanning/
    # batch_prepare.py), with bodies decoded and attachments held ahead, or not yet read.
    raw, expected = load(name)
    email = parse_email(raw)
    if decoded:
        _ = email.text_body, email.kind
        email.keep_attachments_decoded(1 << 30)
    received = pickle.loads(pickle.dumps(email))
    assert to_json_dict(received) == expected
    assert [a.payload() for a in received.attachments] == [
        a.payload() for a in parse_email(raw).attachments
    ]
