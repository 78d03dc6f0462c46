"""The result of reply extraction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyParts:
    """``reply_text``: the new text; ``quoted_text``: what was cut as quoted history;
    ``signature``: the sign-off block ("-- " and below) or "Sent from my …" lines taken off
    the end of the new text; ``method``: how the split was found."""

    reply_text: str
    quoted_text: str
    found_marker: bool
    method: str  # marker | attribution | original_message | outlook_header | quote_prefix
    #               | html_quote | inline | signature | none
    signature: str = ""


def strip_lines(lines: list[str]) -> str:
    """Lines joined, without blank lines at either end or trailing spaces at the end."""
    return "\n".join(lines).strip("\n").rstrip()
