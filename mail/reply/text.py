"""Splitting plain text (or HTML converted to text) into the new words and the quote.

``find_cut`` walks the lines once and returns the earliest sign of a quoted original: an
attribution ("On … wrote:", or a date and address above ``>`` lines), an "Original
message" separator, a header block (From plus Sent/To/Subject within a few lines, in many
languages, also wrapped over two lines), or the ``>``-quoted tail. A forward marker first
means the rest is forwarded content, which is kept. Below a ``>`` quote, the customer's
own words are kept: text between quoted lines is an inline reply (nothing is cut), text
after the quote is a reply written below it (kept, the quote set aside).
"""

from __future__ import annotations

import re

from .parts import ReplyParts, strip_lines
from .patterns import (
    ATTR_END,
    ATTR_FULL,
    ATTR_GENERIC,
    ATTR_START,
    DATE_HINT,
    EVIDENCE,
    FORWARD,
    FORWARD_SUBJECT,
    FROM_FIELD,
    HEADER_FIELD,
    OTHER_FIELD,
    RULE_LINE,
    SENT_FIELD,
    SEPARATOR,
)

MAX_LINE = 400  # longer lines are never attributions or header fields
_QUOTED_LINE = re.compile(r"(?m)^[ \t]*>")


def is_quoted(line: str) -> bool:
    """A line quoted with ">" (after optional indentation)."""
    return line.lstrip().startswith(">")


def _generic_attribution(lines: list[str], j: int) -> bool:
    # "<date> <sender> <address>:" followed by quoted lines (blank lines may separate).
    line = lines[j].strip()
    if not ATTR_GENERIC.match(line) or not DATE_HINT.search(line):
        return False
    for below in lines[j + 1 : j + 4]:
        if below.strip():
            return is_quoted(below)
    return False


def attribution_at(lines: list[str], j: int, need_evidence: bool = True) -> int | None:
    """If line j ends an attribution ("… wrote:"), return the line where it starts.

    Mid-text, an attribution must show a date or an address (``need_evidence``); right above
    a quote we already found, the verb alone is enough. Clients wrap long attributions, so
    up to three lines are read together.
    """
    line = lines[j].strip()
    if len(line) > MAX_LINE or not line.endswith((":", "：")):
        return None
    if not ATTR_END.search(line):
        for k in (1, 2, 3):
            start = j - k + 1
            if start < 0:
                break
            window = [w.strip().lstrip("> ") for w in lines[start : j + 1]]
            joined = " ".join(window)
            if len(joined) > MAX_LINE or (k > 1 and not all(window)):
                break
            if ATTR_FULL.match(joined) or (
                k > 1
                and ATTR_END.search(joined)
                and ATTR_START.match(joined)
                and EVIDENCE.search(joined)
            ):
                return start
        if _generic_attribution(lines, j) or (not need_evidence and ATTR_GENERIC.match(line)):
            return j
        return None
    for k in (3, 2):
        start = j - k + 1
        if start < 0:
            continue
        window = lines[start : j + 1]
        if any(not w.strip() or w.rstrip().endswith((".", "!", "?")) for w in window[:-1]):
            continue
        joined = " ".join(w.strip() for w in window)
        if len(joined) <= MAX_LINE and ATTR_START.match(joined) and EVIDENCE.search(joined):
            return start
    return j if EVIDENCE.search(line) or not need_evidence else None


def is_quote_header(line: str) -> bool:
    """A line that introduces a quote container below it (HTML blockquote): an attribution
    with a verb and a date or address, or a date and an address ending in a colon."""
    line = line.strip()
    if len(line) > MAX_LINE or not line.endswith((":", "：")):
        return False
    if ATTR_END.search(line) or ATTR_FULL.match(line):
        return bool(EVIDENCE.search(line))
    return bool(ATTR_GENERIC.match(line) and DATE_HINT.search(line))


def header_block_at(lines: list[str], i: int) -> bool:
    """A From line opening a block with a Sent/Date line, or two more header fields, within
    the next six lines (a wrapped From value may sit between)."""
    if len(lines[i]) > MAX_LINE or not FROM_FIELD.match(lines[i]):
        return False
    window = lines[i + 1 : i + 7]
    if any(SENT_FIELD.match(line) for line in window):
        return True
    return sum(1 for line in window if OTHER_FIELD.match(line)) >= 2


def _quoted_tail_start(lines: list[str]) -> int | None:
    start: int | None = None
    for idx in range(len(lines) - 1, -1, -1):
        if not lines[idx].strip():
            continue
        if not is_quoted(lines[idx]):
            break
        start = idx
    return start


def _may_start_quote(line: str) -> bool:
    # Every signal has a colon (attributions, header fields, "Begin forwarded message:") or
    # opens with a rule of dashes; other lines are skipped without running the patterns.
    return ":" in line or "：" in line or line.lstrip()[:1] in ("-", "_", "=", "*")


def find_cut(lines: list[str], forwarded: bool = False) -> tuple[int, str] | None:
    """Earliest line where quoted material starts, and which signal found it; None when
    nothing is quoted or a forward marker comes first (``forwarded``: the subject says
    this is a forward, so a separator or header block introduces content too)."""
    tail = _quoted_tail_start(lines)
    for i, line in enumerate(lines):
        if tail is not None and i >= tail:
            return tail, "quote_prefix"
        if len(line) > MAX_LINE or not _may_start_quote(line):
            continue
        if FORWARD.match(line):
            return None
        if SEPARATOR.match(line):
            return None if forwarded else (i, "original_message")
        if header_block_at(lines, i):
            if forwarded:
                return None
            back = i - 1 if i > 0 and RULE_LINE.match(lines[i - 1]) else i
            return back, "outlook_header"
        start = attribution_at(lines, i)
        if start is not None:
            return start, "attribution"
    return None


def trim_tail(lines: list[str]) -> tuple[list[str], list[str]]:
    """Strip an attribution / header block / separator left right above a cut."""
    end = len(lines)
    while end:
        last = lines[end - 1]
        if not last.strip() or last.strip(" >") == "":
            end -= 1
            continue
        start = attribution_at(lines[:end], end - 1, need_evidence=False)
        if start is None and (SEPARATOR.match(last) or RULE_LINE.match(last)):
            start = end - 1
        if start is None and len(last) <= MAX_LINE and HEADER_FIELD.match(last):
            first = end - 1
            while (
                first > 0
                and len(lines[first - 1]) <= MAX_LINE
                and HEADER_FIELD.match(lines[first - 1])
            ):
                first -= 1
            if any(FROM_FIELD.match(line) for line in lines[first:end]):
                start = first
        if start is None:
            break
        end = start
    return lines[:end], lines[end:]


def _below_quote(lines: list[str], cut: int) -> tuple[str, int, int] | None:
    """For a ``>`` quote starting at ``cut``: ("inline", ...) when the customer wrote between
    quoted lines, ("below", first, last) when only after the quote; None otherwise."""
    first_quoted = next((k for k in range(cut, len(lines)) if is_quoted(lines[k])), None)
    if first_quoted is None:
        return None
    last_quoted = first_quoted
    seen_text_between = False
    for k in range(first_quoted, len(lines)):
        if is_quoted(lines[k]):
            if seen_text_between:
                return "inline", first_quoted, k
            last_quoted = k
        elif lines[k].strip():
            seen_text_between = True
    if last_quoted + 1 < len(lines) and any(x.strip() for x in lines[last_quoted + 1 :]):
        return "below", first_quoted, last_quoted
    return None


def split_text(text: str, subject: str = "") -> ReplyParts | None:
    """Split text without our marker; None when nothing looks quoted."""
    lines = text.split("\n")
    found = find_cut(lines, forwarded=bool(FORWARD_SUBJECT.match(subject)))
    if found is None:
        return None
    index, method = found
    if method in ("attribution", "quote_prefix"):
        if _QUOTED_LINE.search("\n".join(lines[:index])):
            return ReplyParts(strip_lines(lines), "", False, "inline")  # answers between quotes
        shape = _below_quote(lines, index)
        if shape is not None and shape[0] == "inline":
            return ReplyParts(strip_lines(lines), "", False, "inline")
        if shape is not None:
            above, header = trim_tail(lines[:index])
            below = strip_lines(lines[shape[2] + 1 :])
            reply = f"{strip_lines(above)}\n\n{below}" if strip_lines(above) else below
            quoted = strip_lines(header + lines[index : shape[2] + 1])
            return ReplyParts(reply, quoted, False, method)
    above, header = trim_tail(lines[:index])
    return ReplyParts(strip_lines(above), strip_lines(header + lines[index:]), False, method)
