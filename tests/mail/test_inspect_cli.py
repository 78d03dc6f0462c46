"""`mailscanner inspect FILE [--json]`, driven through its register() seam."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailscanner.cli import inspect

FIXTURES = Path(__file__).parent / "fixtures"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mailscanner")
    inspect.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_json_output_matches_the_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "bounce_postfix.eml"
    assert run(["inspect", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def test_human_summary_shows_the_essentials(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["inspect", str(FIXTURES / "outlook_desktop_sv_winmail.eml")]) == 0
    out = capsys.readouterr().out
    assert "Subject:  SV: [TT1043] Skrivaren på plan 2" in out
    assert "Åsa Öberg <asa.oberg@foretag.se>" in out
    assert "winmail.dat application/ms-tnef" in out
    assert out.rstrip().endswith("Ekonomiavdelningen")


def test_dash_reads_raw_bytes_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = b"Subject: =?utf-8?q?fr=C3=A5n_stdin?=\r\n\r\nhej \xe5\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert run(["inspect", "-", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["subject"], printed["text_body"]) == ("från stdin", "hej å")


def test_any_file_exits_zero_even_binary_junk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.eml"
    junk.write_bytes(bytes(range(256)) * 10)
    assert run(["inspect", str(junk), "--json"]) == 0
    assert "defects" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_path_is_one_line_on_stderr_and_exit_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.eml" if kind == "missing" else tmp_path
    assert run(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(path) in captured.err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    # `mailscanner inspect big.eml --json | head -n 1`, through a real OS pipe: the output
    # (over 1 MB) fills the pipe, head exits, and inspect's next write meets a closed pipe.
    mail = tmp_path / "big.eml"
    mail.write_bytes(b"Subject: big\r\n\r\n" + b"a line of customer text\r\n" * 50_000)
    command = [sys.executable, "-c", "from mailscanner.cli import main; raise SystemExit(main())"]
    writer = subprocess.Popen(
        [*command, "inspect", str(mail), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stderr is not None
    reader = subprocess.Popen(["head", "-n", "1"], stdin=writer.stdout, stdout=subprocess.PIPE)
    writer.stdout.close()  # only head holds the read end now
    first_line, _ = reader.communicate(timeout=60)
    with writer.stderr:
        errors = writer.stderr.read().decode()
    assert writer.wait(timeout=60) == 0
    assert first_line == b"{\n"
    assert errors == ""
