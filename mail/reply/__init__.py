"""Reply-above extraction: keep what the customer wrote, set aside what they quoted.

Our outgoing template starts with a marker line (``DEFAULT_MARKER``). ``extract_reply``:
  1. looks for the marker in the plain text, then in the HTML's text conversion — tolerant
     of ``>`` quoting, client re-wrapping and blockquote indentation — and keeps what is
     above it, minus the attribution or header block right above;
  2. without a marker, splits the plain text at the earliest sign of a quoted original
     (``text.find_cut``: attributions in ~25 languages, "Original message" separators,
     localized From/Sent header blocks, a ``>``-quoted tail), keeping forwarded messages,
     inline answers between quoted lines and text written below the quote;
  3. failing that, cuts the HTML at the first quote container (``html_quotes``);
  4. takes the signature ("-- " block, "Sent from my iPhone") off the new text into
     ``signature`` (``signature``).
The cut text is always returned as ``quoted_text`` so an agent can see the full original.
Every step is linear in the input (bounded patterns, index arithmetic, bounded HTML
nesting); input beyond ``MAX_INPUT_CHARS`` is not read.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from ..html import html_to_text
from .html_quotes import split_html
from .parts import ReplyParts, strip_lines
from .signature import split_signature
from .text import is_quoted, split_text, trim_tail

__all__ = ["DEFAULT_MARKER", "MAX_INPUT_CHARS", "ReplyParts", "extract_reply"]

logger = logging.getLogger(__name__)

DEFAULT_MARKER = "##- Please type your reply above this line -##"
MAX_INPUT_CHARS = 500_000  # beyond this a "reply" is not typed by hand; keep work bounded


@lru_cache(maxsize=64)
def _marker_pattern(marker: str) -> re.Pattern[str] | None:
    tokens = marker.split()
    if not tokens:
        return None
    # Between words a client may re-wrap the line and prefix the new line with "> ".
    return re.compile(r"[\s>]+".join(re.escape(t) for t in tokens), re.I)


def _may_hold_marker(html: str, marker: str) -> bool:
    """False when the HTML cannot show the marker: one of its ASCII words is missing
    (non-ASCII letters may be written as entities, so only ASCII words rule it out)."""
    words = [t for t in re.findall(r"[A-Za-z0-9]+", marker) if t.isascii()]
    lowered = html.lower()
    return all(w.lower() in lowered for w in words)


def _split_at_marker(text: str, marker: str) -> ReplyParts | None:
    pattern = _marker_pattern(marker)
    match = pattern.search(text) if pattern else None
    if match is None:
        return None
    line_start = text.rfind("\n", 0, match.start()) + 1
    lines = text[:line_start].split("\n")[:-1]
    end = len(lines)
    if is_quoted(text[line_start : match.start() + 1]):
        # A quoted marker: the quoted lines right above it (often the attribution, as iOS
        # quotes it) are part of the same quote.
        while end and (is_quoted(lines[end - 1]) or not lines[end - 1].strip()):
            end -= 1
    above, trimmed = trim_tail(lines[:end])
    quoted = "\n".join(trimmed + lines[end:] + text[line_start:].split("\n"))
    return ReplyParts(strip_lines(above), quoted.strip("\n").rstrip(), True, "marker")


def _split(text: str, html: str, marker: str, subject: str) -> ReplyParts | None:
    result = _split_at_marker(text, marker) if text else None
    # HTML to text is the costly step (about a millisecond a mail): only when needed.
    if result is None and html.strip() and _may_hold_marker(html, marker):
        result = _split_at_marker(html_to_text(html), marker)
    if result is None and text.strip():
        result = split_text(text, subject)
    if result is None and html.strip():
        result = split_html(html)
        if result is None and not text.strip():
            # With a plain part, the text rules above saw the same quote as text.
            result = split_text(html_to_text(html), subject)
    return result


def extract_reply(
    text_body: str,
    html_body: str | None = None,
    marker: str = DEFAULT_MARKER,
    subject: str = "",
) -> ReplyParts:
    """Split a customer's mail into the new text, the quoted original and the signature.

    ``subject`` lets a forward ("Fwd:", "WG:", "VB:"...) keep its embedded original.

    >>> extract_reply("Thanks!\\n\\nOn Mon, 4 Mar 2024, Help <h@x.se> wrote:\\n> hi").reply_text
    'Thanks!'
    """
    text = (text_body or "")[:MAX_INPUT_CHARS].replace("\r\n", "\n")
    html = (html_body or "")[:MAX_INPUT_CHARS]
    try:
        result = _split(text, html, marker, subject)
    except Exception:  # a reply that cannot be split is still a reply: keep it whole
        logger.exception("reply extraction failed")
        result = None
    if result is None:
        whole = text if text.strip() else html_to_text(html)
        result = ReplyParts(whole.strip("\n").rstrip(), "", False, "none")
    reply, signature = split_signature(result.reply_text)
    if not signature:
        return result
    method = "signature" if result.method == "none" else result.method
    return ReplyParts(reply, result.quoted_text, result.found_marker, method, signature)
