"""MIME structure over raw bytes: header blocks, content parameters and part offsets.

The stdlib parser copies a message several times (str lines, joined payloads): a 72 MB mail
peaks above 550 MB and takes seconds. Here a part is only offsets into the one raw buffer;
bodies are decoded in bounded chunks (``mail.transfer``) when someone asks.

Steps of ``parse_tree``:
  1. split the header block (tolerating a missing blank line) and unfold header lines;
  2. read Content-Type/-Disposition parameters (a regex for plain values, the stdlib for
     RFC 2231 continuations and odd quoting);
  3. for multipart, find ``--boundary`` lines with ``bytes.find`` and recurse, depth-capped;
  4. record structural defects as plain strings.
"""

from __future__ import annotations

import email.message
import email.utils
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MAX_DEPTH = 30
MAX_PARTS = 2000

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]{1,200}[ \t]*:")
_MBOX_FROM = re.compile(rb">?From [^\s:]")  # "From addr date", not an obsolete "From : x"
# Lines some tools put above the headers: mbox envelope lines, separator rules, blank lines.
_PREAMBLE_LINE = re.compile(rb"(?:>?From [^\s:][^\n]*|[-=_*#~]{3,}[ \t]*|[ \t]*)\r?\n")


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """Raw headers of one part: (name, unfolded value bytes), and where its body lies."""

    fields: tuple[tuple[str, bytes], ...]
    body_start: int
    defects: tuple[str, ...] = ()
    lower_names: tuple[str, ...] = ()  # fields' names lower-cased, for fast lookups

    def get(self, name: str) -> bytes | None:
        """First raw value of a header (case-insensitive), or None."""
        lname = name.lower()
        names = self.lower_names or tuple(key.lower() for key, _ in self.fields)
        if lname not in names:  # most lookups miss (auto-reply checks ask for ten headers)
            return None
        return self.fields[names.index(lname)][1]

    def get_all(self, name: str) -> list[bytes]:
        """Every raw value of a header, in order."""
        lname = name.lower()
        names = self.lower_names or tuple(key.lower() for key, _ in self.fields)
        if lname not in names:
            return []
        return [self.fields[i][1] for i, key in enumerate(names) if key == lname]


def _block_end(raw: bytes, pos: int, end: int) -> int:
    # Where the blank separator line starts (or ``end``), found by C-level scans. Search the
    # message's own line-end style first so the other search stops there instead of
    # running through a large body.
    if raw.startswith(b"\n", pos, end) or raw.startswith(b"\r\n", pos, end):
        return pos
    first_nl = raw.find(b"\n", pos, end)
    crlf_style = first_nl > pos and raw[first_nl - 1] == 0x0D
    primary, secondary = (b"\n\r\n", b"\n\n") if crlf_style else (b"\n\n", b"\n\r\n")
    found = raw.find(primary, pos, end)
    other = raw.find(secondary, pos, found if found >= 0 else end)
    if other >= 0:
        found = other
    return found + 1 if found >= 0 else end


def parse_header_block(raw: bytes, start: int = 0, end: int | None = None) -> HeaderBlock:
    """Read the header block at ``raw[start:end]``; never raises.

    A line that is neither a header nor a continuation ends the headers even without the
    blank separator line (defect recorded), as the stdlib parser does.
    """
    end = len(raw) if end is None else end
    fields: list[tuple[str, bytes]] = []
    defects: list[str] = []
    pos = start
    if _MBOX_FROM.match(raw, pos, end):  # mbox "From " envelope line
        nl = raw.find(b"\n", pos, end)
        pos = end if nl < 0 else nl + 1
    stop = _block_end(raw, pos, end)
    name: str | None = None
    value: list[bytes] = []
    lines = raw[pos:stop].split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the block ends with a line break
    ended = False
    for line in lines:
        content = line.rstrip(b"\r")
        if not content.strip(b" \t"):  # a whitespace-only line also ends the headers
            pos += len(line) + 1
            ended = True
            break
        if content[:1] in (b" ", b"\t") and name is not None:
            value.append(content)
        else:
            match = _HEADER_LINE.match(content)
            if match is None:
                defects.append("missing header/body separator")
                ended = True
                break
            if name is not None:
                fields.append((name, b"".join(value).strip()))
            name = content[: match.end() - 1].rstrip(b" \t").decode("ascii")
            value = [content[match.end() :]]
        pos += len(line) + 1
    if not ended:  # skip the blank separator line itself
        nl = raw.find(b"\n", stop, end) if stop < end else -1
        pos = nl + 1 if nl >= 0 else end
    if name is not None:
        fields.append((name, b"".join(value).strip()))
    pos = min(pos, end)
    names = tuple(key.lower() for key, _ in fields)
    return HeaderBlock(tuple(fields), pos, tuple(defects), names)


def headers_start(raw: bytes, limit: int = 8) -> int:
    """Where a message's headers start: after up to ``limit`` lines of mbox envelope
    (``From addr date``), separator rules or blank lines, when a header line follows them;
    0 otherwise."""
    pos = 0
    for _ in range(limit):
        line = _PREAMBLE_LINE.match(raw, pos)
        if line is None:
            break
        pos = line.end()
    if pos and _HEADER_LINE.match(raw, pos):
        return pos
    return 0


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
    flowed: str = ""  # "" | "flowed" | "delsp": RFC 3676 format=flowed, with delsp=yes


_PARAM = re.compile(r';\s*([!#$%&\'+.^_`|~0-9A-Za-z-]+)\s*=\s*("[^"\\]*"|[^;"]*)')


def _simple_params(value: str) -> dict[str, str] | None:
    """Parameters of a plain header value; None when it needs the stdlib (RFC 2231, escapes)."""
    if "*" in value or "\\" in value or "(" in value:
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        params.setdefault(match.group(1).lower(), match.group(2).strip().strip('"'))
    return params


def _fast_content_info(headers: HeaderBlock, ctype: str) -> ContentInfo | None:
    # The stdlib param helpers cost ~0.1 ms per part; most parts need none of their rules.
    ct_raw = headers.get("Content-Type")
    cd_raw = headers.get("Content-Disposition")
    ct = ct_raw.decode("latin-1") if ct_raw is not None else ""
    cd = cd_raw.decode("latin-1") if cd_raw is not None else ""
    ct_params = _simple_params(ct)
    cd_params = _simple_params(cd)
    if ct_params is None or cd_params is None:
        return None
    charset = ct_params.get("charset")
    boundary = ct_params.get("boundary")
    filename = cd_params.get("filename") or ct_params.get("name")
    disposition = cd.split(";", 1)[0].strip().lower() if cd_raw is not None else ""
    return ContentInfo(
        ctype,
        charset.lower() if charset else None,
        boundary.rstrip() if boundary else None,
        filename or None,
        disposition,
        _content_id(headers),
        _cte(headers),
        _flowed(ct_params.get("format"), ct_params.get("delsp")),
    )


def _flowed(fmt: object, delsp: object) -> str:
    if not isinstance(fmt, str) or fmt.lower() != "flowed":
        return ""
    return "delsp" if isinstance(delsp, str) and delsp.lower() == "yes" else "flowed"


def _content_id(headers: HeaderBlock) -> str | None:
    raw = headers.get("Content-ID")
    return (raw.decode("ascii", "replace").strip().strip("<>").strip() or None) if raw else None


def _cte(headers: HeaderBlock) -> str:
    return (
        (headers.get("Content-Transfer-Encoding") or b"").decode("ascii", "replace").strip().lower()
    )


def content_info(headers: HeaderBlock, default_type: str = "text/plain") -> ContentInfo:
    """Interpret a part's content headers (RFC 2231 names and odd quoting via the stdlib)."""
    ctype = default_type
    declared = headers.get("Content-Type")
    if declared is not None:
        main = declared.split(b";", 1)[0].strip().lower().decode("latin-1")
        if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", main):
            ctype = main
    fast = _fast_content_info(headers, ctype)
    if fast is not None:
        return fast
    msg = email.message.Message()
    msg.set_default_type(default_type)
    for key in ("Content-Type", "Content-Disposition"):
        raw = headers.get(key)
        if raw is not None:
            # latin-1 maps bytes 1:1, so raw 8-bit file names survive and can be re-decoded
            # later with the message's charset guess (surrogates would break the stdlib).
            msg[key] = raw.decode("latin-1")
    boundary = charset = filename = None
    disposition = flowed = ""
    try:
        boundary = msg.get_boundary()
        charset = msg.get_content_charset()
        name = msg.get_filename() or msg.get_param("name")
        filename = email.utils.collapse_rfc2231_value(name) if isinstance(name, tuple) else name
        if "Content-Disposition" in msg:
            disposition = msg.get_content_disposition() or ""
        flowed = _flowed(msg.get_param("format"), msg.get_param("delsp"))
    except Exception:  # malformed RFC 2231 params can break the stdlib helpers
        logger.debug("bad content params", exc_info=True)
    return ContentInfo(
        ctype, charset, boundary, filename, disposition, _content_id(headers), _cte(headers), flowed
    )


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


def _find_delimiters(
    raw: bytes, boundary: bytes, start: int, end: int
) -> list[tuple[int, int, bool]]:
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
        if is_close and _delimiter_after(raw, marker, line_end, end):
            is_close = False  # a close line followed by more parts: a broken mailer's separator
        found.append((idx, line_end, is_close))
        if is_close:
            return found
        pos = line_end


def _delimiter_after(raw: bytes, marker: bytes, pos: int, end: int) -> bool:
    """True when a non-closing ``--boundary`` line follows (one bounded look ahead)."""
    idx = raw.find(b"\n" + marker, pos - 1, end)
    if idx < 0:
        return False
    after = raw[idx + 1 + len(marker) : idx + 3 + len(marker)]
    return not after.startswith(b"--")


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
    for (_, body_from, is_close), nxt in zip(delims, delims[1:] + [(end, end, True)], strict=True):
        if is_close:
            break
        part_end = _trim_crlf(raw, body_from, nxt[0]) if nxt[0] != end else end
        child_head = parse_header_block(raw, body_from, part_end)
        if budget.parts >= MAX_PARTS:
            defects.append("MIME part count limit reached")
            break
        children.append(
            _build(
                raw, child_head, child_head.body_start, part_end, depth + 1, budget, child_default
            )
        )
    return Part(head, info, start, end, tuple(children), tuple(defects))


_BOUNDARY_LINE = re.compile(rb"(?m)^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)(?:--)?[ \t]*\r?$")


def _guess_boundary(raw: bytes, start: int, end: int) -> bytes | None:
    # Some mailers declare one boundary and use another: take the first "--token" line.
    match = _BOUNDARY_LINE.search(raw, start, min(end, start + 65536))
    return match.group(1) if match else None


def _as_text(head: HeaderBlock, info: ContentInfo, start: int, end: int, defect: str) -> Part:
    # Show a broken multipart as plain text: the reader still sees the words.
    plain = ContentInfo("text/plain", info.charset, None, None, "", None, info.cte, info.flowed)
    return Part(head, plain, start, end, (), (defect,))
