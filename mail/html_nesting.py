"""Bounding HTML nesting before any HTML parser sees it, so that work stays linear.

html5ever (behind nh3) checks its stack of open elements on many tags, so a page of 100,000
nested ``<div>`` costs time quadratic in the depth (26 s for 1.1 MB); lxml stops at depth
256 and drops the text below; inscriptis recurses once per level. No mail a person reads
nests deeper than a few dozen levels, so tags that would open a level beyond
``MAX_NESTING`` are removed (with their matching end tags); the text inside them stays.

The count is an approximation of the HTML tree, done in one pass with a regex over tag
names: void elements and self-closed tags open nothing; an end tag closes the innermost open
element of its name (found with per-name counters, never a stack search); a start tag of an
element that closes itself implicitly (``<p>``, ``<li>``, ``<td>``...) first closes an open
one of the same name on top. Mail that never reaches the limit is returned unchanged.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_NESTING = 200  # lxml's own limit is 256; leave room for html/body and what a parser adds
# Formatting elements left open are re-opened by the HTML parser in every later block (the
# "active formatting elements"), so each one multiplies the output; keep a few.
MAX_FORMATTING = 8

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
# Start and end tags only, void elements left out: an over-estimate of the depth in C speed.
_OPEN_OR_CLOSE = re.compile(
    r"<(/?)(?!(?:br|img|hr|meta|input|link|wbr|col|area|base|source|param|embed|track)\b)"
    r"[A-Za-z]",
    re.I,
)
_STEP = {"": 1, "/": -1}.__getitem__
_FORMATTING_NAMES = [
    "a",
    "b",
    "big",
    "code",
    "em",
    "font",
    "i",
    "nobr",
    "s",
    "small",
    "strike",
    "strong",
    "tt",
    "u",
]
_FORMATTING = frozenset(_FORMATTING_NAMES)
_FORMATTING_TAG = re.compile(rf"<(/?)(?:{'|'.join(_FORMATTING_NAMES)})(?![\w:-])", re.I)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "basefont",
        "bgsound",
        "frame",
        "keygen",
        "image",
        "isindex",
        "nextid",
        "spacer",
    ]
)
_SELF_CLOSING = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "rt",
        "rp",
    ]
)
# Content of these is text to an HTML parser, whatever it looks like.
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "plaintext", "noscript"})


def bound_nesting(html: str, limit: int = MAX_NESTING) -> str:
    """``html`` with tags beyond nesting depth ``limit`` removed (unchanged when none are).

    >>> bound_nesting("<div><div><b>x</b></div></div>", limit=2)
    '<div><div>x</div></div>'
    """
    if html.count("<") <= limit:  # cannot nest deeper than it has tags
        return html
    shallow = max(accumulate(map(_STEP, _OPEN_OR_CLOSE.findall(html))), default=0) <= limit
    if shallow and _open_formatting(html) <= MAX_FORMATTING:
        return html  # even counting every unclosed <p> as a level, it stays shallow
    drops = _tags_to_drop(html, limit)
    if not drops:
        return html
    out: list[str] = []
    pos = 0
    for start, end in drops:
        out.append(html[pos:start])
        pos = end
    out.append(html[pos:])
    return "".join(out)


def _open_formatting(html: str) -> int:
    """Most formatting elements open at once (an end tag closes one, if any is open)."""
    most = count = 0
    for slash in _FORMATTING_TAG.findall(html):
        count = count + 1 if not slash else max(count - 1, 0)
        most = max(most, count)
    return most


def _tags_to_drop(html: str, limit: int) -> list[tuple[int, int]]:  # noqa: C901 — one pass
    stack: list[str] = []
    open_count: dict[str, int] = {}
    dropped: dict[str, int] = {}
    drops: list[tuple[int, int]] = []
    formatting: dict[str, int] = {}  # open formatting elements by name, stack or not
    raw_until = ""
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if raw_until:
            if closing and name == raw_until:
                raw_until = ""
            else:
                continue
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
                drops.append(match.span())
                continue
            if formatting.get(name):
                formatting[name] -= 1
            if open_count.get(name):
                while stack:  # amortised: every element is popped at most once
                    top = stack.pop()
                    open_count[top] -= 1
                    if top == name:
                        break
            continue
        if name in _VOID or match.group(3):
            continue
        if name in _SELF_CLOSING and stack and stack[-1] == name:
            stack.pop()
            open_count[name] -= 1
        is_formatting = name in _FORMATTING
        if len(stack) >= limit or is_formatting and sum(formatting.values()) >= MAX_FORMATTING:
            dropped[name] = dropped.get(name, 0) + 1
            drops.append(match.span())
            continue
        if name in _RAW_TEXT:
            raw_until = name
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if is_formatting:
            formatting[name] = formatting.get(name, 0) + 1
    return drops
