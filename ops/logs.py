"""Log lines an operator can search: one JSON object per line, with the work's context.

    {"time": "2026-12-07T09:01:02.345Z", "level": "INFO", "logger": "mailscanner.scanning.
     pipeline", "message": "scan of Support succeeded: ...", "scanner_id": 3,
     "scan_run_id": 41, "job_id": "scan:3", "request_id": "5f0c..."}

Context fields come from contextvars set where the work starts (`log_context(...)`): the
scan (scanner_id, scan_run_id, uid), the send job (ticket), every job (job_id, and the
request_id of the GraphQL request that queued it), every GraphQL request (request_id).
asyncio copies contextvars into the tasks a block starts, so the fields follow the work
into its subtasks. `MAILSCANNER_LOG_FORMAT=json|text`; text (the old format) by default
when stderr is a terminal, JSON otherwise.

What never goes into a log line: passwords, tokens, message bodies. Log calls pass ids and
codes, not content; `exc_info` tracebacks are rendered as text inside the JSON object.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

CONTEXT_FIELDS = ("scanner_id", "scan_run_id", "uid", "ticket", "job_id", "request_id")
_VARS: dict[str, contextvars.ContextVar[Any]] = {
    name: contextvars.ContextVar(f"mailscanner_log_{name}", default=None)
    for name in CONTEXT_FIELDS
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add context fields to every log line of the block (None values are left alone).

    Example: `with log_context(scanner_id=3, scan_run_id=41): await run(...)`."""
    tokens = []
    for name, value in fields.items():
        if value is not None:
            tokens.append((_VARS[name], _VARS[name].set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current(name: str) -> Any:
    """A context field's value now (e.g. the request id to carry into a job)."""
    return _VARS[name].get()


def context_fields() -> dict[str, Any]:
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context_fields())
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def resolve_format(name: str | None) -> str:
    """`json` or `text`: the setting, else text on a terminal and JSON otherwise."""
    if name:
        return name
    return "text" if sys.stderr.isatty() else "json"


def configure(level: str = "info", fmt: str | None = None) -> None:
    """Install one stderr handler on the root logger in the chosen format (replacing our
    earlier one, leaving others such as pytest's), so every library's records come out
    alike."""
    handler = logging.StreamHandler()
    handler.set_name("mailscanner")
    if resolve_format(fmt) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "mailscanner":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
