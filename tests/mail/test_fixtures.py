"""Every ``fixtures/*.eml`` parses to exactly what its hand-written ``.json`` says.

The JSON files use the ``mailscanner inspect --json`` shape. ``MAIL_FIXTURE=<name>`` runs one.
"""

from __future__ import annotations

import json
import os
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
