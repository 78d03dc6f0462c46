"""The JSON log format: one object per line, context fields from where the work started."""
from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from mailscanner.ops import logs
from mailscanner.ops.logs import JsonFormatter, log_context


def _logger(stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger(f"mailscanner.test.{id(stream)}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_line_carries_the_context_of_the_block_and_of_the_tasks_it_starts() -> None:
    stream = io.StringIO()
    log = _logger(stream)

    async def per_message(uid: int) -> None:
        with log_context(uid=uid):
            log.info("message %s done", uid)

    # when a scan logs, and two tasks it starts log with their own uid
    with log_context(scanner_id=3, scan_run_id=41, request_id="r-1", ticket=None):
        log.info("scan started")
        await asyncio.gather(per_message(7), per_message(8))
    log.info("outside")
    # then every line has the standard fields and the context in force where it was written
    first, seven, eight, outside = _lines(stream)
    assert first["message"] == "scan started" and first["level"] == "INFO"
    assert first["logger"] == log.name and str(first["time"]).endswith("Z")
    assert {k: first[k] for k in ("scanner_id", "scan_run_id", "request_id")} == {
        "scanner_id": 3, "scan_run_id": 41, "request_id": "r-1"}
    assert "ticket" not in first and "uid" not in first  # None leaves a field out
    assert (seven["uid"], eight["uid"]) == (7, 8) and seven["scan_run_id"] == 41
    assert set(outside) == {"time", "level", "logger", "message"}


def test_newlines_and_tracebacks_stay_inside_one_json_line() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("failed: %s", "two\nlines")
    # then the output is one line, which parses, with the traceback in exc_info
    assert len(stream.getvalue().splitlines()) == 1
    (entry,) = _lines(stream)
    assert entry["message"] == "failed: two\nlines" and entry["level"] == "ERROR"
    assert "ValueError: bad" in str(entry["exc_info"])


def test_the_format_defaults_to_text_on_a_terminal_and_json_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert logs.resolve_format(None) == "text"
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert logs.resolve_format(None) == "json"
    assert logs.resolve_format("text") == "text"


def test_configure_replaces_its_own_handler_and_leaves_others() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    level = root.level
    try:
        logs.configure("warning", "json")
        logs.configure("info", "text")
        ours = [h for h in root.handlers if h.get_name() == "mailscanner"]
        assert len(ours) == 1 and not isinstance(ours[0].formatter, JsonFormatter)
        assert other in root.handlers and root.level == logging.INFO
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "mailscanner"]:
            root.removeHandler(handler)
        root.removeHandler(other)
        root.setLevel(level)


def test_access_log_lines_hide_oauth_codes_in_the_query_string() -> None:
    from mailscanner.http_server import ShortPaths

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/oauth/google/callback?state=s3cr3t-state&code=4/0AbCdEf"
         "&scope=mail", "1.1", 200), None)
    assert ShortPaths().filter(record)
    line = record.getMessage()
    assert "s3cr3t-state" not in line and "4/0AbCdEf" not in line
    assert "state=***&code=***&scope=mail" in line


async def test_a_refused_operation_is_logged_without_the_input_it_quoted(
        caplog: pytest.LogCaptureFixture) -> None:
    from mailscanner.resolvers.schema import schema

    query = "mutation($input: ScannerInput!) { createScanner(input: $input) { __typename } }"
    with caplog.at_level(logging.INFO, logger="mailscanner.graphql"):
        result = await schema.execute(
            query, variable_values={"input": {"name": "x", "passwrd": "s3cret-value"}})
        literal = await schema.execute(
            'mutation { createScanner(input: {passwrd: "s3cret-literal"}) { __typename } }')
    # then the client is told what was wrong, and the log line says so without the value
    assert result.errors and "s3cret-value" in result.errors[0].message
    assert literal.errors
    assert "unknown field 'passwrd'" in caplog.text and "(input not logged)" in caplog.text
    assert "s3cret" not in caplog.text
