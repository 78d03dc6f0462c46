"""`mailscanner rules check`."""
from __future__ import annotations

import io

import pytest

from mailscanner.cli import main


def test_check_prints_canonical_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", 'SUBJECT contains "x"  and size > 5242880'])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == [
        'subject contains "x" and size > 5MB',
        '{"v":1,"and":[{"field":"subject","op":"contains","value":"x"},'
        '{"field":"size","op":"gt","value":5242880}]}',
    ]


def test_check_accepts_the_json_form(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", '{"v":1,"field":"has_attachment","op":"is_true"}'])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == "has attachment"


def test_check_shows_a_caret_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", 'subject contains "x" and (size > 5MB or'])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0].startswith("syntax error: expected a field name")
    assert lines[1] == '  subject contains "x" and (size > 5MB or'
    assert lines[2] == "  " + " " * 39 + "^"


def test_check_reports_validation_errors_with_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", '{"v":1,"and":[]}']) == 2
    assert "[$.and]" in capsys.readouterr().err


def test_check_reads_stdin(capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('to ends with "@acme.com"\n'))
    assert main(["rules", "check", "-"]) == 0
    assert capsys.readouterr().out.startswith('to ends with "@acme.com"\n')
