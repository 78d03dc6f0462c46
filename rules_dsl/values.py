"""Value helpers shared by the validator, printer and compiler: dates, sizes and RE2.

Dates: `2026-01-31` is a whole UTC day, so `date before 2026-01-31` means earlier than
2026-01-31T00:00Z, `date after 2026-01-31` means from 2026-02-01T00:00Z on, and `<=`/`>=`
include the day. A datetime without an offset is UTC. Sizes are bytes, units are 1024-based.

Regexes run on RE2 (linear time, no catastrophic backtracking). RE2's `\\w` is ASCII-only,
so `\\w`/`\\W` are rewritten to Unicode classes (`[\\p{L}\\p{N}_]`) and Swedish or CJK words
match; `\\b` stays ASCII-only (RE2 has no Unicode word boundary).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import re2

# Canonical date text (what the printer writes bare); the lexer upper-cases T and Z.
DATE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)
_SIZE_UNITS = (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024))
_WORD_CLASS = r"\p{L}\p{N}_"


class RegexError(ValueError):
    """RE2 rejected a pattern; the message says why."""


def parse_date(text: str) -> tuple[datetime, datetime]:
    """Return (lo, hi) in UTC: the day [lo, lo+1d) for a date, lo == hi for a datetime.

    Raises ValueError for text that is not a canonical ISO date or datetime.
    """
    if not DATE_TEXT.fullmatch(text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if "T" not in text:
        return moment, moment + timedelta(days=1)
    return moment, moment


def format_size(size: int) -> str:
    """`5242880` -> `5MB`: the largest unit that divides exactly, else plain bytes."""
    for unit, factor in _SIZE_UNITS:
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


@functools.lru_cache(maxsize=2048)
def compile_regex(pattern: str, case_sensitive: bool) -> re2._Regexp:
    """Compile `pattern` with RE2 (never `re`), case-insensitive unless `case_sensitive`."""
    options = re2.Options()
    options.log_errors = False  # bad user patterns are our errors, not stderr noise
    options.case_sensitive = case_sensitive
    try:
        return re2.compile(unicode_words(pattern), options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(str(reason)) from None
    except (UnicodeEncodeError, TypeError, ValueError) as exc:
        raise RegexError(f"pattern cannot be encoded ({exc.__class__.__name__})") from None


def safe_search(search: Callable[[str], Any], text: str) -> Any:
    """`search(text)`, tolerating lone surrogates (a badly decoded header) in `text`."""
    try:
        return search(text)
    except UnicodeEncodeError:
        return search(text.encode("utf-8", "replace").decode("utf-8"))


def unicode_words(pattern: str) -> str:
    """Rewrite `\\w` / `\\W` to Unicode classes, leaving `\\Q...\\E` and `[:alpha:]` alone."""
    if "\\w" not in pattern and "\\W" not in pattern:
        return pattern
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        piece, i, in_class = _scan(pattern, i, in_class)
        out.append(piece)
    return "".join(out)


def _scan(p: str, i: int, in_class: bool) -> tuple[str, int, bool]:
    """One step of `unicode_words`: return (output piece, next index, inside a [class])."""
    c = p[i]
    two = p[i : i + 2]
    if two == "\\Q":
        stop = p.find("\\E", i)
        stop = len(p) if stop < 0 else stop + 2
        return p[i:stop], stop, in_class
    if two == "\\w":
        return (_WORD_CLASS if in_class else f"[{_WORD_CLASS}]"), i + 2, in_class
    if two == "\\W" and not in_class:
        return f"[^{_WORD_CLASS}]", i + 2, in_class
    if c == "\\":
        return two, i + 2, in_class
    if in_class and two == "[:":
        stop = p.find(":]", i)
        stop = len(p) if stop < 0 else stop + 2
        return p[i:stop], stop, in_class
    if c == "[" and not in_class:
        j = i + 1
        j += p.startswith("^", j)
        j += p.startswith("]", j)  # a leading "]" is a literal
        return p[i:j], j, True
    if c == "]" and in_class:
        return c, i + 1, False
    return c, i + 1, in_class
