"""Text form, stage 1: characters -> tokens.

Tokens: words (keywords and field names, case-insensitive), "strings" with JSON-like
escapes, /regex/flags, numbers with an optional size unit (5MB, 10KB, 1.5GB), ISO dates
(2026-01-31, 2026-01-31T10:00:00+02:00) and the punctuation ( ) [ ] , < <= > >=.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from .errors import RuleSyntaxError

_SPACE = re.compile(r"\s+")
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?"
    r"(?![\w.:-])",
    re.ASCII,
)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]*)(?![\w.])", re.ASCII)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUNCT = ("<=", ">=", "(", ")", "[", "]", ",", "<", ">")
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b",
            "f": "\f", "0": "\0"}
_REGEX_FLAGS = "ims"
_MAX_DIGITS = 20


@dataclass(frozen=True, slots=True)
class Token:
    """One token. `kind` is "word", "string", "regex", "number", "date", a punctuation
    string, or "eof". `value` is the lower-cased word, decoded string, pattern, byte count
    or date text; `flags` holds a regex literal's flags."""

    kind: str
    value: str | int
    start: int
    end: int
    flags: str = ""


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens ending with an "eof" token; raises RuleSyntaxError."""
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= n:
            tokens.append(Token("eof", "", n, n))
            return tokens
        token = _next_token(text, pos)
        tokens.append(token)
        pos = token.end


def _next_token(text: str, pos: int) -> Token:
    ch = text[pos]
    if ch == '"':
        return _string(text, pos)
    if ch == "/":
        return _regex(text, pos)
    if "0" <= ch <= "9":
        return _number_or_date(text, pos)
    word = _WORD.match(text, pos)
    if word:
        return Token("word", word.group().lower(), pos, word.end())
    for punct in _PUNCT:
        if text.startswith(punct, pos):
            return Token(punct, punct, pos, pos + len(punct))
    raise RuleSyntaxError(f"unexpected character {ch!r}", text=text, offset=pos)


def _number_or_date(text: str, pos: int) -> Token:
    date = _DATE.match(text, pos)
    if date:
        return Token("date", date.group().upper(), pos, date.end())
    number = _NUMBER.match(text, pos)
    if not number:
        raise RuleSyntaxError("malformed number", text=text, offset=pos)
    digits, unit = number.groups()
    if len(digits) > _MAX_DIGITS:
        raise RuleSyntaxError("number too large", text=text, offset=pos, end=number.end())
    multiplier = _UNITS.get(unit.lower())
    if multiplier is None:
        raise RuleSyntaxError(
            f"unknown size unit {unit!r} (use B, KB, MB or GB)",
            text=text, offset=pos + len(digits), end=number.end(),
        )
    size = Decimal(digits) * multiplier
    if size != size.to_integral_value():
        raise RuleSyntaxError("size is not a whole number of bytes", text=text, offset=pos,
                              end=number.end())
    return Token("number", int(size), pos, number.end())


def _string(text: str, start: int) -> Token:
    out: list[str] = []
    pos = start + 1
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == '"':
            return Token("string", "".join(out), start, pos + 1)
        if ch == "\n":
            break
        if ch == "\\":
            decoded, pos = _escape(text, pos)
            out.append(decoded)
            continue
        out.append(ch)
        pos += 1
    raise RuleSyntaxError("unterminated string", text=text, offset=start, end=pos)


def _escape(text: str, pos: int) -> tuple[str, int]:
    """Decode the escape at text[pos] == "\\"; return (character, next position)."""
    code = text[pos + 1 : pos + 2]
    if code in _ESCAPES:
        return _ESCAPES[code], pos + 2
    if code == "u":
        digits = text[pos + 2 : pos + 6]
        if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
            return chr(int(digits, 16)), pos + 6
    raise RuleSyntaxError("invalid escape in string", text=text, offset=pos, end=pos + 2)


def _regex(text: str, start: int) -> Token:
    # Escapes are kept verbatim (RE2 reads them); only a bare "/" ends the literal.
    pos = start + 1
    n = len(text)
    while pos < n and text[pos] not in "/\n":
        pos += 2 if text[pos] == "\\" and pos + 1 < n and text[pos + 1] != "\n" else 1
    if pos >= n or text[pos] != "/":
        raise RuleSyntaxError("unterminated /regex/", text=text, offset=start, end=pos)
    pattern = text[start + 1 : pos]
    flags_end = _WORD.match(text, pos + 1)
    flags = flags_end.group() if flags_end else ""
    for i, flag in enumerate(flags):
        if flag not in _REGEX_FLAGS or flag in flags[:i]:
            at = pos + 1 + i
            raise RuleSyntaxError(f"unknown or repeated regex flag {flag!r} (use i, m, s)",
                                  text=text, offset=at, end=at + 1)
    return Token("regex", pattern, start, pos + 1 + len(flags), flags)
