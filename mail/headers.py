"""Header decoding: raw header bytes -> readable text, addresses, dates and message ids.

Real mail breaks the rules in predictable ways, and each helper here answers one of them:
encoded words with a wrong or unknown charset, multi-byte characters split across adjacent
encoded words, raw 8-bit headers in a legacy charset (Shift-JIS, GB2312, windows-1251...),
raw ISO-2022-JP (7-bit escape sequences), dates without a zone. Nothing here raises.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.utils
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from charset_normalizer import from_bytes

logger = logging.getLogger(__name__)

_ENCODED_WORD = re.compile(rb"=\?([^?\s]{1,64})\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"[ \t\r\n]*")
_MSGID = re.compile(r"<([^<>\s]+)>")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")

# Labels that mailers declare but that Python either lacks or that are really a superset
# in practice (browsers apply the same mapping, see the WHATWG Encoding standard).
_CHARSET_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "iso-2022-jp": "iso2022_jp_ext",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
    "default": "",
}


def normalize_charset(label: str | None) -> str:
    """Return a Python codec name for a declared charset label, or "" when unusable.

    >>> normalize_charset('"GB2312"')
    'gb18030'
    """
    if not label:
        return ""
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return ""
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: labels with NUL bytes
        return ""


def decode_bytes(data: bytes, declared: str | None = None, hint: str | None = None) -> str:
    """Decode text bytes trying the declared charset, UTF-8, a hint, then detection.

    A declared single-byte charset (latin-1, cp1252, ascii) is not trusted when the bytes are
    valid UTF-8 with non-ASCII content: that mismatch is the most common mislabel in mail.
    UTF-8 text with a few bad bytes stays UTF-8 (see ``_mostly_utf8``) instead of turning
    every accented letter of the message into two.
    """
    if declared and ("16" in declared or "32" in declared):
        wide = normalize_charset(declared)
        if wide.startswith(("utf_16", "utf_32")):  # ASCII text in UTF-16 is full of NULs
            return data.decode(wide, "replace")
    if data.isascii():
        return _decode_ascii(data)
    codec = normalize_charset(declared)
    as_utf8 = _utf8_first(data, codec, (declared or "").strip().strip("\"'").lower())
    if as_utf8 is not None:
        return as_utf8
    relabelled = _not_western(data) if codec in ("cp1252", "latin_1") else None
    if relabelled is not None:
        return relabelled
    if codec and codec not in ("ascii", "utf-8"):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    hinted = normalize_charset(hint)
    if hinted:
        try:
            return data.decode(hinted)
        except (UnicodeDecodeError, LookupError):
            pass
    if looks_western(data):
        return data.decode("cp1252")
    detected = detect_charset(data)
    if detected:
        return data.decode(detected, "replace")
    return data.decode(codec or "cp1252", "replace")


def _decode_ascii(data: bytes) -> str:
    if b"\x1b$" in data or b"\x1b(" in data:  # raw ISO-2022-JP is 7-bit
        try:
            return data.decode("iso2022_jp_ext")
        except UnicodeDecodeError:
            pass
    return data.decode("ascii")


def _not_western(data: bytes) -> str | None:
    # Declared Western, but the letters are not: windows-1251 or KOI8-R text labelled
    # iso-8859-1 is a classic mislabel. Trust the detector when it names another script.
    if looks_western(data):
        return None
    detected = detect_charset(data)
    if detected and detected not in ("cp1252", "latin_1", "utf-8"):
        return data.decode(detected, "replace")
    return None


def _utf8_first(data: bytes, codec: str, label: str) -> str | None:
    # Declared single-byte Western, ASCII, UTF-8 or nothing: UTF-8 is tried first.
    if codec not in ("cp1252", "latin_1", "ascii", "", "utf-8"):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec == "utf-8" or label in ("", "us-ascii", "ascii"):
        return _mostly_utf8(data)
    return None


_BAD_BYTE = re.compile("[\udc80-\udcff]")


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few undecodable bytes, or None when it is not UTF-8 at all.

    Dovecot hands a NUL byte over as 0x80 (an IMAP literal cannot hold NUL), so a lone
    0x80 in UTF-8 or ASCII text is a NUL and is dropped. Other stray bytes become U+FFFD
    when valid multi-byte characters clearly outnumber them.
    """
    text = data.decode("utf-8", "surrogateescape")
    bad = _BAD_BYTE.findall(text)
    if all(ch == "\udc80" for ch in bad):
        return text.replace("\udc80", "")
    valid = sum(1 for ch in text if "\x7f" < ch < "\udc80" or ch > "\udcff")
    if valid >= 2 * len(bad):
        return _BAD_BYTE.sub("\ufffd", text)
    return None


_WESTERN = set(
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ€–—‘’‚“”„•…«»°§©®´¨½¼¾·¡¿£¥¢ \xa0"
)


def looks_western(data: bytes) -> bool:
    """True when undeclared 8-bit bytes read naturally as windows-1252 (Swedish, German...).

    Statistical detectors misjudge short Western texts (Swedish "å" comes out as "ĺ" in
    windows-1250). Western text is mostly ASCII letters with a few accented ones, whereas
    Cyrillic or Greek single-byte text decoded as cp1252 is dense in high letters.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    high = [ch for ch in text if ord(ch) > 127]
    if any(ch not in _WESTERN for ch in high):
        return False
    letters = sum(1 for ch in text if ch.isalpha())
    return letters > 0 and len(high) / letters < 0.3


def detect_charset(data: bytes) -> str:
    """Best guess of the charset of undeclared 8-bit bytes ("" when nothing fits)."""
    try:
        best = from_bytes(data[:65536]).best()
    except Exception:  # charset-normalizer is a heuristic; never let it break parsing
        logger.debug("charset detection failed", exc_info=True)
        return ""
    if best is None:
        return ""
    codec = normalize_charset(best.encoding)
    return _recheck_korean(data, codec) if codec in ("cp949", "euc_kr", "johab") else codec


def _recheck_korean(data: bytes, codec: str) -> str:
    """EUC-JP and GB2312 bytes also decode as Korean; the detector picks Korean too often.

    Real Korean is mostly Hangul syllables; Korean-decoded Japanese or Chinese shows loose
    jamo and Hanja instead. Japanese is recognised by its kana, Chinese by decoding cleanly.
    """
    text = data.decode(codec, "replace")
    syllables = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    odd = sum(1 for ch in text if "\u3130" <= ch <= "\u318f" or "\u4e00" <= ch <= "\u9fff")
    if syllables >= 2 * odd:
        return codec
    for other in ("euc_jp", "cp932"):
        try:
            decoded = data.decode(other)
        except UnicodeDecodeError:
            continue
        if sum(1 for ch in decoded if "\u3040" <= ch <= "\u30ff") * 5 >= len(decoded.strip()):
            return other
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return codec


def _decode_word_payload(enc: bytes, text: bytes) -> bytes:
    if enc in (b"B", b"b"):
        text = text + b"=" * (-len(text) % 4)
        try:
            return base64.b64decode(text)
        except (binascii.Error, ValueError):
            try:
                return binascii.a2b_base64(text.rstrip(b"="))
            except binascii.Error:
                return text
    return _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace(b"_", b" "))


def decode_header_value(raw: bytes, hint: str | None = None) -> str:
    """Decode one unfolded header value (RFC 2047 words and raw 8-bit text) into a str.

    Adjacent encoded words in the same charset are joined before decoding, so a multi-byte
    character split between two words (common in Japanese and UTF-8 subjects) survives.
    ``hint`` is the charset guessed for the message's undeclared 8-bit headers.
    """
    if b"=?" not in raw:
        return _clean(decode_bytes(raw, None, hint))
    out: list[str] = []
    pending: list[bytes] = []
    pending_cs = ""
    pos = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_cs, hint))
            pending.clear()

    for match in _ENCODED_WORD.finditer(raw):
        gap = raw[pos : match.start()]
        if pending and _BETWEEN_WORDS.fullmatch(gap):
            gap = b""  # whitespace between encoded words is not displayed (RFC 2047 6.2)
        charset = match.group(1).decode("ascii", "replace")
        if gap or charset.lower() != pending_cs.lower():
            flush()
            if gap:
                out.append(decode_bytes(gap, None, hint))
            pending_cs = charset
        pending.append(_decode_word_payload(match.group(2), match.group(3)))
        pos = match.end()
    flush()
    out.append(decode_bytes(raw[pos:], None, hint))
    return _clean("".join(out))


def _clean(text: str) -> str:
    # Unfolded values keep their folding whitespace; collapse CR/LF/tabs for display.
    if "\r" in text or "\n" in text or "\t" in text:
        text = re.sub(r"[\r\n\t]+", " ", text)
    return text.replace("\x00", "").strip()


def guess_header_charset(values: Iterable[bytes], declared: Iterable[str]) -> str:
    """Pick one charset for all raw 8-bit header bytes of a message.

    Detection on the concatenation of every 8-bit header is far more reliable than on one
    short subject. Charsets the message declares elsewhere are tried first.
    """
    blob = b"\n".join(v for v in values if not v.isascii())
    if not blob:
        return ""
    try:
        blob.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    for label in declared:
        codec = normalize_charset(label)
        if codec and codec not in ("utf-8", "cp1252", "ascii"):
            try:
                blob.decode(codec)
                return codec
            except UnicodeDecodeError:
                continue
    if looks_western(blob):
        return "cp1252"
    return detect_charset(blob) or "cp1252"


_SIMPLE_ADDR = re.compile(r"\s*(?:([^<>@,]*?)\s*<([^<>\s,]+@[^<>\s,]+)>|([^<>\s,]+@[^<>\s,]+))\s*")


def _simple_addresses(text: str) -> list[tuple[str, str]] | None:
    # The stdlib address parser costs ~0.07 ms per header; plain "Name <a@b>, c@d" lists
    # (the vast majority) are split here, anything with quotes, comments or groups is not.
    if any(ch in text for ch in '"();:\\'):
        return None
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        match = _SIMPLE_ADDR.fullmatch(item)
        if match is None:
            return None
        pairs.append((match.group(1) or "", match.group(2) or match.group(3)))
    return pairs


def parse_addresses(raw: bytes, hint: str | None = None) -> list[tuple[str, str]]:
    """Split an address header into (name, address) pairs, decoding names after splitting.

    Splitting first matters: an encoded name may contain a comma ("Doe, John").
    """
    text = decode_bytes(raw, None, hint) if not raw.isascii() else raw.decode("ascii")
    text = re.sub(r"[\r\n]+", " ", text)
    if "@" not in text and "<" not in text and ":" not in text and text.strip():
        # Only a name ("From: Kim Berg"): the stdlib parser would keep its first word.
        name = text.strip().strip('"').strip()
        if "=?" in name:
            name = decode_header_value(name.encode("utf-8", "surrogateescape"), hint)
        return [(name, "")]
    pairs = _simple_addresses(text)
    if pairs is None:
        try:
            pairs = email.utils.getaddresses([text])
        except Exception:  # stdlib address parser has had IndexError bugs on junk
            logger.debug("getaddresses failed", exc_info=True)
            pairs = []
    result: list[tuple[str, str]] = []
    for name, addr in _rejoin_names(pairs):
        addr = addr.strip().rstrip(".")  # "kim@example.com." (a fully qualified domain)
        if "=?" in name:
            name = decode_header_value(name.encode("utf-8", "surrogateescape"), hint)
        name = name.strip().strip('"').strip()
        if addr or name:
            result.append((name, addr))
    return result


def _rejoin_names(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Undo splits at unquoted commas in display names ("Berg, Kim <kim@x>" came out as
    ("", "Berg") and ("Kim", "kim@x")): an address-less piece joins the next name."""
    if all("@" in addr for _, addr in pairs):
        return pairs
    joined: list[tuple[str, str]] = []
    carry = ""
    for name, addr in pairs:
        if "@" not in addr and (addr or name) and not addr.endswith(":"):
            carry = ", ".join(x for x in (carry, (name + " " + addr).strip()) if x)
            continue
        if carry and addr:
            name = f"{carry}, {name}" if name else carry
            carry = ""
        joined.append((name, addr))
    if carry:
        joined.append((carry, ""))
    return joined


def parse_date(value: str) -> datetime | None:
    """RFC 5322 date -> tz-aware datetime; a date without zone is taken as UTC."""
    if not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:  # some Python versions return None instead of raising
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_msgid(value: str) -> str | None:
    """First message id in a header, WITHOUT angle brackets ("abc@host"), or None."""
    match = _MSGID.search(value)
    if match:
        return match.group(1)
    stripped = value.strip()
    if stripped and " " not in stripped:
        return stripped.strip("<>") or None
    return None


def parse_msgid_list(value: str) -> tuple[str, ...]:
    """All message ids of References/In-Reply-To, in order, without angle brackets."""
    ids = _MSGID.findall(value)
    if ids:
        return tuple(ids)
    return tuple(tok.strip("<>") for tok in value.split() if tok.strip("<>"))
