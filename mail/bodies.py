"""Choosing and decoding the body parts of a MIME tree, and listing the attachments.

Body choice follows what mail clients show: inside ``multipart/alternative`` one branch
(the plain one for text, the richest for HTML); elsewhere every inline text part in order.
A part with a file name or ``Content-Disposition: attachment`` is an attachment, never body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .attachments import Attachment, UndecodablePart
from .headers import decode_bytes, decode_header_value
from .mime import Part, parse_header_block
from .transfer import CHUNK, iter_decoded, uudecode

MAX_TEXT_INPUT = 8 * CHUNK  # encoded bytes read per text part; the rest is not body text
MAX_TEXT_CHARS = 1_000_000  # cap on text_body, the scanner matches rules against it

_UU_BEGIN = re.compile(r"(?m)^begin [0-7]{3,4} ([^\r\n]+)\r?\n")
_UU_END = re.compile(r"(?m)^end[ \t]*(?:\r?\n|\Z)")


def is_body_candidate(part: Part, kind: str, named_ok: bool = False) -> bool:
    """True for an inline text/<kind> leaf (no file name unless ``named_ok``)."""
    info = part.info
    return (
        not part.children
        and info.content_type == f"text/{kind}"
        and info.disposition != "attachment"
        and (named_ok or not info.filename)
    )


def body_parts(part: Part, kind: str, named_ok: bool = False) -> list[Part]:
    """Leaves that make up the ``kind`` ("plain" or "html") body, in display order.

    ``named_ok`` admits inline text parts that carry a file name: the fallback for mailers
    that name every part (clients then show those parts as the body).
    """
    if not part.children:
        return [part] if is_body_candidate(part, kind, named_ok) else []
    if part.info.content_type == "multipart/alternative":
        branches = [body_parts(child, kind, named_ok) for child in part.children]
        chosen = [b for b in branches if b]
        if not chosen:
            return []
        return chosen[0] if kind == "plain" else chosen[-1]
    found: list[Part] = []
    for child in part.children:
        found.extend(body_parts(child, kind, named_ok))
    return found


def decode_text(raw: bytes, part: Part, defects: list[str], hint: str | None) -> str:
    """Transfer- and charset-decode one text part, reading at most MAX_TEXT_INPUT bytes."""
    end = part.end
    if end - part.start > MAX_TEXT_INPUT:
        end = part.start + MAX_TEXT_INPUT
        defects.append("text part truncated")
    data = b"".join(iter_decoded(raw, part.start, end, part.info.cte, defects))
    text = decode_bytes(data, part.info.charset, hint).replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:  # NUL is no text (and PostgreSQL text columns refuse it)
        text = text.replace("\x00", "")
    return unflow(text, part.info.flowed == "delsp") if part.info.flowed else text


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: rejoin soft-wrapped lines (Thunderbird, Apple Mail).

    A line ending in a space continues on the next line of the same quote depth; the
    signature separator "-- " never flows. Quote marks are kept as ">" prefixes.
    """
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if pending is not None and depth != pending_depth:
            out.append(_quoted(pending_depth, pending))
            pending = None
        joined = content if pending is None else pending + content
        if content.endswith(" ") and content != "-- ":
            pending = joined[:-1] if delsp else joined
            pending_depth = depth
            continue
        out.append(_quoted(depth, joined))
        pending = None
    if pending is not None:
        out.append(_quoted(pending_depth, pending))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    if not depth:
        return content
    return ">" * depth + (" " + content if content else "")


def split_uuencoded(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Remove ``begin 644 name`` ... ``end`` blocks from a text body; return them apart.

    One forward pass: once a ``begin`` finds no ``end`` after it, no later one can, so a
    body of a thousand unterminated ``begin`` lines costs one scan, not a thousand.
    """
    if "begin " not in text:
        return text, []
    blocks: list[tuple[str, str]] = []
    kept: list[str] = []
    pos = 0
    while (begin := _UU_BEGIN.search(text, pos)) is not None:
        end = _UU_END.search(text, begin.end())
        if end is None:
            break
        blocks.append((begin.group(1).strip(), text[begin.start() : end.end()]))
        kept.append(text[pos : begin.start()])
        pos = end.end()
    if not blocks:
        return text, []
    kept.append(text[pos:])
    return "".join(kept), blocks


# Transfer encodings a part's content can be decoded from ("" is 7bit, the default).
KNOWN_ENCODINGS = frozenset(
    {"", "7bit", "8bit", "binary", "base64", "quoted-printable",
     "x-uuencode", "uuencode", "x-uue", "uue"}
)


@dataclass(frozen=True)
class PartChunks:
    """The decoded content of one MIME part of `raw`, in chunks, read on each call. A class,
    not a closure, so that a parsed email pickles (with `raw` pickled once)."""

    raw: bytes
    part: Part

    def __call__(self) -> Iterator[bytes]:
        cte = self.part.info.cte
        if cte not in KNOWN_ENCODINGS:
            # Passing it through would store the encoded text as if it were the file.
            raise UndecodablePart(f"unknown Content-Transfer-Encoding {cte[:40]!r}")
        return iter_decoded(self.raw, self.part.start, self.part.end, cte)


@dataclass(frozen=True)
class UuChunks:
    """The content of one uuencoded block, decoded on each call (picklable)."""

    block: bytes

    def __call__(self) -> Iterator[bytes]:
        return iter((uudecode(self.block),))


def _filename(raw: bytes, part: Part, hint: str | None) -> str:
    name = part.info.filename
    if name:
        if "=?" in name or not name.isascii():
            # Raw 8-bit names arrive as latin-1 code points (see mime.content_info).
            data = name.encode("latin-1") if max(map(ord, name)) < 256 else name.encode("utf-8")
            name = decode_header_value(data, hint)
        return name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if part.info.content_type == "message/rfc822":
        head = parse_header_block(raw, part.start, min(part.end, part.start + 65536))
        value = head.get("Subject")
        subject = decode_header_value(value, hint) if value else ""
        subject = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", subject)[:120].strip()
        return f"{subject or 'message'}.eml"
    return ""


def list_attachments(
    raw: bytes,
    root: Part,
    text_parts: list[Part],
    html_parts: list[Part],
    html: str,
    hint: str | None,
) -> list[Attachment]:
    """Every leaf that is not shown as body text, as lazy ``Attachment`` objects."""
    body_ids = {id(p) for p in text_parts} | {id(p) for p in html_parts}
    attachments: list[Attachment] = []
    for part in root.walk():
        if part.children or id(part) in body_ids:
            continue
        info = part.info
        if info.content_type.startswith("multipart/"):
            continue
        if (
            info.content_type in ("text/plain", "text/html")
            and not info.filename
            and info.disposition != "attachment"
            and part.end <= part.start
        ):
            continue  # an empty inline text part left out of the body choice
        cid = info.content_id
        # Inline means "shown inside the body": referenced from the HTML, or an image the
        # sender placed inline. An inline PDF (Apple Mail) is still a file to download.
        inline = bool(cid and f"cid:{cid}" in html) or (
            info.disposition == "inline" and info.content_type.startswith("image/")
        )
        attachments.append(
            Attachment(
                filename=_filename(raw, part, hint),
                content_type=info.content_type,
                content_id=cid,
                inline=inline,
                _chunks=PartChunks(raw, part),
            )
        )
    return attachments


def uu_attachments(blocks: list[tuple[str, str]]) -> list[Attachment]:
    """Attachments for uuencoded blocks found inside text bodies."""
    result: list[Attachment] = []
    for name, block in blocks:
        data = block.encode("latin-1", "replace")
        result.append(
            Attachment(
                filename=name,
                content_type="application/octet-stream",
                _chunks=UuChunks(data),
            )
        )
    return result
