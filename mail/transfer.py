"""Content-Transfer-Encoding decoders that stream: base64, quoted-printable, uuencode.

They read ``raw[start:end]`` in windows of ``CHUNK`` bytes and yield decoded chunks, so
hashing a 50 MB attachment needs one window of memory, not a decoded copy. Damaged input
never raises: undecodable bits are dropped and a defect string noted.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

CHUNK = 1 << 20  # 1 MiB of encoded input per decoding step

_B64_KEEP = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_DELETE = bytes(b for b in range(256) if b not in _B64_KEEP)


def iter_decoded(
    raw: bytes, start: int, end: int, cte: str, defects: list[str] | None = None
) -> Iterator[bytes]:
    """Yield the transfer-decoded body ``raw[start:end]`` in chunks of at most ~1 MiB.

    Bad base64/QP never raises: undecodable bits are dropped and a defect string noted.
    """
    if cte == "base64":
        yield from _iter_base64(raw, start, end, defects)
    elif cte == "quoted-printable":
        pos = start
        while pos < end:
            stop = min(pos + CHUNK, end)
            if stop < end:  # stop after a line break so no "=XX" escape is cut in two
                nl = raw.rfind(b"\n", pos, stop)
                if nl >= pos:
                    stop = nl + 1
                else:  # one endless line: at least never split an escape
                    eq = raw.find(b"=", stop - 2, stop)
                    if eq > pos:
                        stop = eq
                    elif eq == pos:
                        stop = min(pos + 3, end)
            yield binascii.a2b_qp(raw[pos:stop])
            pos = stop
    elif cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        yield uudecode(raw[start:end], defects)
    else:
        for pos in range(start, end, CHUNK):
            yield raw[pos : min(pos + CHUNK, end)]


def _iter_base64(raw: bytes, start: int, end: int, defects: list[str] | None) -> Iterator[bytes]:
    if end - start <= CHUNK and (whole := _whole_base64(raw[start:end])) is not None:
        yield whole
        return
    carry = b""
    noted = False
    for pos in range(start, end, CHUNK):
        data = carry + raw[pos : min(pos + CHUNK, end)].translate(None, _B64_DELETE)
        if b"=" in data:
            # Padding inside the stream (concatenated blobs) would stop the decoder early.
            data = data.replace(b"=", b"")
        cut = len(data) - len(data) % 4
        carry = data[cut:]
        if cut:
            yield binascii.a2b_base64(data[:cut])
    if carry:
        if len(carry) == 1:
            noted = True
        else:
            yield binascii.a2b_base64(carry + b"=" * (-len(carry) % 4))
    if noted and defects is not None:
        defects.append("invalid base64 length")


def _whole_base64(data: bytes) -> bytes | None:
    """The common case in one C call: a single well-formed blob, "=" padding only at its end.
    (binascii skips line breaks but stops at the first complete padding, so anything else,
    such as concatenated blobs, takes the careful path.) None when it does not apply."""
    pad = data.find(b"=")
    if pad != -1 and data[pad:].strip(b"= \t\r\n"):
        return None
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # bad length or padding: the careful path notes the defect
        return None


def uudecode(data: bytes, defects: list[str] | None = None) -> bytes:
    """Decode a uuencoded block (with or without its begin/end lines), tolerating junk."""
    out: list[bytes] = []
    started = not re.search(rb"(?m)^begin ", data)
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`") or not line.strip():
            if line.strip() == b"end":
                break
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            # Some encoders emit lines longer than the declared count; trim to the count.
            count = (line[0] - 32) & 63 if line else 0
            nbytes = 1 + (count + 2) // 3 * 4
            try:
                out.append(binascii.a2b_uu(line[:nbytes]))
            except binascii.Error:
                if defects is not None:
                    defects.append("bad uuencode line")
    return b"".join(out)
