"""MIME structure over raw bytes: header blocks, part offsets and streaming decoders.

The stdlib parser copies a message several times (str lines, joined payloads): a 72 MB mail
peaks above 550 MB and takes seconds. Here a part is only offsets into the one raw buffer;
bodies are decoded in bounded chunks when someone asks, so memory stays ~1x the raw size.

Steps of ``parse_tree``:
  1. split the header block (tolerating a missing blank line) and unfold header lines;
  2. read Content-Type and its parameters through the stdlib (RFC 2231 continuations);
  3. for multipart, find ``--boundary`` lines with ``bytes.find`` and recurse, depth-capped;
  4. record structural defects as plain strings.
"""
from __future__ import annotations

import binascii
import email.message
import email.utils
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MAX_DEPTH = 30
MAX_PARTS = 2000
CHUNK = 1 << 20  # 1 MiB of encoded input per decoding step

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]{1,200}[ \t]*:")
_B64_KEEP = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_DELETE = bytes(b for b in range(256) if b not in _B64_KEEP)


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """Raw headers of one part: (name, unfolded value bytes), and where its body lies."""

    fields: tuple[tuple[str, bytes], ...]
    body_start: int
    defects: tuple[str, ...] = ()

    def get(self, name: str) -> bytes | None:
        """First raw value of a header (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.fields:
            if key.lower() == lname:
                return value
        return None

    def get_all(self, name: str) -> list[bytes]:
        """Every raw value of a header, in order."""
        lname = name.lower()
        return [value for key, value in self.fields if key.lower() == lname]


def parse_header_block(raw: bytes, start: int = 0, end: int | None = None) -> HeaderBlock:
    """Read the header block at ``raw[start:end]``; never raises.

    A line that is neither a header nor a continuation ends the headers even without the
    blank separator line (defect recorded), as the stdlib parser does.
    """
    end = len(raw) if end is None else end
    fields: list[tuple[str, bytes]] = []
    defects: list[str] = []
    pos = start
    if raw.startswith(b"From ", pos):  # mbox "From " envelope line
        nl = raw.find(b"\n", pos, end)
        pos = end if nl < 0 else nl + 1
    name: str | None = None
    value: list[bytes] = []
    while pos < end:
        nl = raw.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = raw[pos:line_end].rstrip(b"\r\n")
        if not line.strip(b" \t"):
            pos = line_end
            break
        if line[:1] in (b" ", b"\t") and name is not None:
            value.append(line)
        else:
            match = _HEADER_LINE.match(line)
            if match is None:
                defects.append("missing header/body separator")
                break
            if name is not None:
                fields.append((name, b"".join(value).strip()))
            name = line[: match.end() - 1].rstrip(b" \t").decode("ascii")
            value = [line[match.end() :]]
        pos = line_end
    if name is not None:
        fields.append((name, b"".join(value).strip()))
    return HeaderBlock(tuple(fields), pos, tuple(defects))


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """Content-Type / Content-Disposition facts of one part."""

    content_type: str
    charset: str | None
    boundary: str | None
    filename: str | None
    disposition: str
    content_id: str | None
    cte: str


def content_info(headers: HeaderBlock, default_type: str = "text/plain") -> ContentInfo:
    """Interpret a part's content headers with the stdlib (RFC 2231 names, quoting)."""
    msg = email.message.Message()
    msg.set_default_type(default_type)
    for key in ("Content-Type", "Content-Disposition"):
        raw = headers.get(key)
        if raw is not None:
            # latin-1 maps bytes 1:1, so raw 8-bit file names survive and can be re-decoded
            # later with the message's charset guess (surrogates would break the stdlib).
            msg[key] = raw.decode("latin-1")
    ctype = default_type
    declared = headers.get("Content-Type")
    if declared is not None:
        main = declared.split(b";", 1)[0].strip().lower().decode("latin-1")
        if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", main):
            ctype = main
    boundary = charset = filename = None
    try:
        boundary = msg.get_boundary()
        charset = msg.get_content_charset()
        filename = msg.get_filename() or msg.get_param("name")  # type: ignore[assignment]
    except Exception:  # malformed RFC 2231 params can break the stdlib helpers
        logger.debug("bad content params", exc_info=True)
    if isinstance(filename, tuple):
        filename = email.utils.collapse_rfc2231_value(filename)
    disposition = (msg.get_content_disposition() or "") if "Content-Disposition" in msg else ""
    cid_raw = headers.get("Content-ID")
    cid = cid_raw.decode("ascii", "replace").strip().strip("<>").strip() if cid_raw else None
    cte_raw = headers.get("Content-Transfer-Encoding") or b""
    cte = cte_raw.decode("ascii", "replace").strip().lower()
    return ContentInfo(ctype, charset, boundary, filename, disposition, cid or None, cte)


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME node; ``start``/``end`` delimit its body inside the shared raw buffer."""

    headers: HeaderBlock
    info: ContentInfo
    start: int
    end: int
    children: tuple[Part, ...] = ()
    defects: tuple[str, ...] = field(default=())

    def walk(self) -> Iterator[Part]:
        """This part, then its descendants depth-first (message/rfc822 is not entered)."""
        yield self
        for child in self.children:
            yield from child.walk()


def _find_delimiters(raw: bytes, boundary: bytes, start: int, end: int) -> list[tuple[int, int, bool]]:
    """(line_start, after_line, is_close) for each ``--boundary`` line in the body."""
    marker = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    pos = start
    while True:
        idx = raw.find(marker, pos, end)
        if idx < 0:
            return found
        pos = idx + len(marker)
        if idx != start and raw[idx - 1 : idx] not in (b"\n", b"\r"):
            continue
        nl = raw.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        rest = raw[pos:line_end].rstrip(b"\r\n")
        is_close = rest.startswith(b"--")
        if is_close:
            rest = rest[2:]
        if rest.strip(b" \t"):
            continue  # a longer boundary that merely starts with ours
        found.append((idx, line_end, is_close))
        if is_close:
            return found
        pos = line_end


def _trim_crlf(raw: bytes, start: int, idx: int) -> int:
    # The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
    if idx > start and raw[idx - 1 : idx] == b"\n":
        idx -= 1
        if idx > start and raw[idx - 1 : idx] == b"\r":
            idx -= 1
    return idx


class _Budget:
    def __init__(self) -> None:
        self.parts = 0


def parse_tree(raw: bytes, headers: HeaderBlock | None = None) -> Part:
    """Build the MIME tree of a whole message (or of an attached message); never raises."""
    head = headers if headers is not None else parse_header_block(raw)
    return _build(raw, head, head.body_start, len(raw), 0, _Budget(), "text/plain")


def _build(
    raw: bytes, head: HeaderBlock, start: int, end: int, depth: int, budget: _Budget, default: str
) -> Part:
    budget.parts += 1
    info = content_info(head, default)
    if not info.content_type.startswith("multipart/"):
        return Part(head, info, start, end)
    if info.boundary is None or not info.boundary.strip():
        return _as_text(head, info, start, end, "multipart without boundary")
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        return _as_text(head, info, start, end, "MIME nesting or part count limit reached")
    boundary = info.boundary.encode("utf-8", "surrogateescape")
    delims = _find_delimiters(raw, boundary, start, end)
    defects: list[str] = []
    if not delims:
        guessed = _guess_boundary(raw, start, end)
        delims = _find_delimiters(raw, guessed, start, end) if guessed else []
        if len(delims) < 2:  # one stray "--xyz" line is not a multipart
            return _as_text(head, info, start, end, "multipart boundary not found")
        defects.append("multipart boundary not found; recovered from body")
    if not delims[-1][2]:
        defects.append("multipart close boundary missing")
    child_default = "message/rfc822" if info.content_type == "multipart/digest" else "text/plain"
    children: list[Part] = []
    for (_, body_from, is_close), nxt in zip(delims, delims[1:] + [(end, end, True)]):
        if is_close:
            break
        part_end = _trim_crlf(raw, body_from, nxt[0]) if nxt[0] != end else end
        child_head = parse_header_block(raw, body_from, part_end)
        if budget.parts >= MAX_PARTS:
            defects.append("MIME part count limit reached")
            break
        children.append(
            _build(raw, child_head, child_head.body_start, part_end, depth + 1, budget, child_default)
        )
    return Part(head, info, start, end, tuple(children), tuple(defects))


_BOUNDARY_LINE = re.compile(rb"(?m)^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)(?:--)?[ \t]*\r?$")


def _guess_boundary(raw: bytes, start: int, end: int) -> bytes | None:
    # Some mailers declare one boundary and use another: take the first "--token" line.
    match = _BOUNDARY_LINE.search(raw, start, min(end, start + 65536))
    return match.group(1) if match else None


def _as_text(head: HeaderBlock, info: ContentInfo, start: int, end: int, defect: str) -> Part:
    # Show a broken multipart as plain text: the reader still sees the words.
    plain = ContentInfo("text/plain", info.charset, None, None, "", None, info.cte)
    return Part(head, plain, start, end, (), (defect,))


def iter_decoded(raw: bytes, start: int, end: int, cte: str, defects: list[str] | None = None) -> Iterator[bytes]:
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
                stop = nl + 1 if nl > pos else stop
            yield binascii.a2b_qp(raw[pos:stop])
            pos = stop
    elif cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        yield uudecode(raw[start:end], defects)
    else:
        for pos in range(start, end, CHUNK):
            yield raw[pos : min(pos + CHUNK, end)]


def _iter_base64(raw: bytes, start: int, end: int, defects: list[str] | None) -> Iterator[bytes]:
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
            nbytes = ((line[0] - 32) & 63) * 4 // 3 + 4 if line else 0
            try:
                out.append(binascii.a2b_uu(line[:nbytes]))
            except binascii.Error:
                if defects is not None:
                    defects.append("bad uuencode line")
    return b"".join(out)
