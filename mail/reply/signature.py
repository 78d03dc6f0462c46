"""Signatures: the block under a "-- " delimiter, and "Sent from my iPhone"-style lines.

Only the end of the new text is looked at: a delimiter (RFC 3676 "-- ", also "--" and an
em dash) followed by at most ``MAX_SIGNATURE_LINES`` non-blank lines, or a device/app line
("Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for Android"...) among
the last three non-blank lines. Sign-offs such as "Best regards, Kim" stay in the text: they
are words the customer typed, and telling them from content needs more than a pattern.
"""

from __future__ import annotations

from .patterns import DEVICE_LINE, SIGNATURE_DELIMITER

MAX_SIGNATURE_LINES = 15
MAX_DEVICE_LINES = 3  # "Sent from my iPhone" is among the last lines, never higher up
MAX_LINE = 200


def split_signature(text: str) -> tuple[str, str]:
    """(text without its signature, the signature without its delimiter line)."""
    lines = text.split("\n")
    non_blank = 0
    cut: int | None = None
    delimiter = False
    for k in range(len(lines) - 1, -1, -1):
        line = lines[k]
        if len(line) > MAX_LINE:
            break
        if len(line) <= 4 and SIGNATURE_DELIMITER.match(line):
            cut, delimiter = k, True
            break
        if non_blank < MAX_DEVICE_LINES and len(line) <= 120 and DEVICE_LINE.match(line):
            cut = k
        if line.strip():
            non_blank += 1
            if non_blank > MAX_SIGNATURE_LINES:
                break
    if cut is None:
        return text, ""
    signature = lines[cut + 1 :] if delimiter else lines[cut:]
    return "\n".join(lines[:cut]).rstrip(), "\n".join(signature).strip("\n").rstrip()
