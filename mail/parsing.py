"""Raw RFC 5322 bytes -> immutable ``ParsedEmail``; never raises.

Headers are decoded when ``parse_email`` runs (rules mostly need only them). Bodies,
attachments, classification and defects are computed on first access and cached on the
instance (``functools.cached_property`` writes ``__dict__`` directly, so it works on a
frozen dataclass). The raw bytes stay referenced for that lazy decoding; decoded attachment
payloads are never kept.

Conventions: ``message_id``, ``in_reply_to`` and ``references`` are stored WITHOUT angle
brackets (``"abc@example.com"``); ``date`` is tz-aware (UTC when the header has no zone);
``header(name)`` returns decoded values in header order.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from .attachments import Attachment
from .automated import (
    BounceInfo,
    DeliveryReportInfo,
    FeedbackInfo,
    Info,
    Kind,
    classify,
)
from .bodies import (
    MAX_TEXT_CHARS,
    body_parts,
    decode_text,
    list_attachments,
    split_uuencoded,
    uu_attachments,
)
from .headers import (
    decode_header_value,
    guess_header_charset,
    parse_addresses,
    parse_date,
    parse_msgid,
    parse_msgid_list,
)
from .html import html_to_text, sanitize_html
from .mime import (
    HeaderBlock,
    Part,
    content_info,
    headers_start,
    parse_header_block,
    parse_tree,
)

__all__ = [
    "Address",
    "Attachment",
    "BounceInfo",
    "DeliveryReportInfo",
    "FeedbackInfo",
    "Kind",
    "ParsedEmail",
    "parse_email",
]

logger = logging.getLogger(__name__)

_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_:.+-]{2,40})""", re.I)


@dataclass(frozen=True)
class Address:
    """One mailbox: ``address`` is "" when a header held only a name."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class _Bodies:
    text: str
    html: str
    text_parts: list[Part]
    html_parts: list[Part]
    raw_html: str
    uu_blocks: list[tuple[str, str]]
    defects: tuple[str, ...]


_REBUILT_ON_DEMAND = frozenset(
    {"_tree", "_bodies", "headers", "_header_cache", "inline_images", "defects"}
)


@dataclass(frozen=True, eq=False)
class ParsedEmail:
    """A parsed message; see the module docstring for conventions. Build with parse_email."""

    subject: str
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    size: int
    folder: str = ""
    _raw: bytes = field(default=b"", repr=False)
    _head: HeaderBlock = field(default=HeaderBlock((), 0), repr=False)
    _hint: str = field(default="", repr=False)
    _header_defects: tuple[str, ...] = field(default=(), repr=False)

    def __getstate__(self) -> dict[str, object]:
        # Pickled when a parse process hands a message to the scanner: the fields and the
        # decoded results go; the MIME tree and internal caches are rebuilt from _raw on
        # demand (unpickling them cost more than the rest of the message together).
        return {k: v for k, v in self.__dict__.items() if k not in _REBUILT_ON_DEMAND}

    # -- headers ---------------------------------------------------------------------
    @cached_property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header as (name, decoded value), in message order, repeats kept."""
        return tuple(
            (name, decode_header_value(value, self._hint)) for name, value in self._head.fields
        )

    @cached_property
    def _header_cache(self) -> dict[str, tuple[str, ...]]:
        return {}

    def header(self, name: str) -> tuple[str, ...]:
        """Decoded values of one header, case-insensitive; () when absent.

        Only the asked-for header is decoded (and remembered): a rule on one custom header
        should not pay for decoding forty Received lines.
        """
        key = name.lower()
        cache = self._header_cache
        if key not in cache:
            raw = self._head.get_all(key)
            cache[key] = tuple(decode_header_value(value, self._hint) for value in raw)
        return cache[key]

    def with_folder(self, folder: str) -> ParsedEmail:
        """A copy tagged with the IMAP folder it came from (lazy caches are shared)."""
        clone = copy.copy(self)
        object.__setattr__(clone, "folder", folder)
        return clone

    # -- structure and bodies ---------------------------------------------------------
    @cached_property
    def _tree(self) -> Part:
        try:
            return parse_tree(self._raw, self._head)
        except Exception:  # defensive: the walker is total, but a scan must never stop here
            logger.exception("MIME tree failed")
            info = content_info(HeaderBlock((), 0))
            return Part(
                self._head, info, self._head.body_start, len(self._raw), (), ("MIME parse error",)
            )

    @cached_property
    def _bodies(self) -> _Bodies:
        defects: list[str] = []
        root = self._tree
        text_parts = body_parts(root, "plain")
        html_parts = body_parts(root, "html")
        if not text_parts and not html_parts:
            text_parts = body_parts(root, "plain", named_ok=True)
        texts = [decode_text(self._raw, p, defects, self._hint) for p in text_parts]
        text, uu_blocks = split_uuencoded("\n".join(t.rstrip("\n") for t in texts))
        raw_html = "\n".join(decode_text(self._raw, p, defects, self._hint) for p in html_parts)
        safe_html = ""
        if not text.strip() and raw_html:
            # Convert the sanitized HTML: the text then shows exactly what a reader sees,
            # without javascript: links or hidden script text.
            safe_html = sanitize_html(raw_html).strip()
            text = html_to_text(safe_html)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            defects.append("text body truncated")
        return _Bodies(
            text.strip("\n"), safe_html, text_parts, html_parts, raw_html, uu_blocks, tuple(defects)
        )

    @cached_property
    def text_body(self) -> str:
        """The plain-text body, or readable text converted from the HTML body."""
        return self._bodies.text

    @cached_property
    def html_body(self) -> str:
        """The HTML body, sanitized for display (no scripts, no remote loads); "" if none."""
        bodies = self._bodies
        return bodies.html or sanitize_html(bodies.raw_html).strip()

    @cached_property
    def attachments(self) -> tuple[Attachment, ...]:
        """Attached files, attached messages and inline images (size/sha256 are lazy);
        files packed in a winmail.dat (TNEF) follow it; uuencoded blocks come last."""
        bodies = self._bodies
        found = list_attachments(
            self._raw, self._tree, bodies.text_parts, bodies.html_parts, bodies.raw_html, self._hint
        )
        # Outlook's winmail.dat stays (nothing is dropped), followed by the files packed in
        # it: those are what the sender attached, and most readers cannot open TNEF.
        unpacked = [inner for att in found for inner in att.tnef_files()]
        return tuple(found + unpacked + uu_attachments(bodies.uu_blocks))

    def keep_attachments_decoded(self, max_total: int) -> bool:
        """Decode the attachments now and keep their content, when they total at most
        `max_total` bytes (the scanner's parse processes do this, so that the scan process
        only stores them). False, and nothing kept, when they are larger."""
        found = self.attachments
        # Sizes first (streamed, nothing held), so a large attachment is never held in full;
        # then each is decoded once more to keep it. Two C-speed passes over small files.
        if not found or sum(a.size for a in found) > max_total:
            return False
        self.__dict__["attachments"] = tuple(a.in_memory() for a in found)
        return True

    @cached_property
    def inline_images(self) -> dict[str, Attachment]:
        """``cid`` (no brackets) -> attachment, to serve ``<img src="cid:...">`` URLs."""
        return {a.content_id: a for a in self.attachments if a.content_id}

    @cached_property
    def defects(self) -> tuple[str, ...]:
        """Problems met while reading headers, MIME structure and body text (strings)."""
        found = list(self._header_defects)
        for part in self._tree.walk():
            found.extend(part.headers.defects if part is not self._tree else ())
            found.extend(part.defects)
        found.extend(self._bodies.defects)
        return tuple(dict.fromkeys(found))

    # -- classification ---------------------------------------------------------------
    @cached_property
    def _classification(self) -> tuple[Kind, str, Info]:
        try:
            return classify(self)
        except Exception:
            logger.exception("classification failed")
            return "normal", "", None

    @property
    def kind(self) -> Kind:
        """ "normal", "auto_reply", "bounce", "delivery_report" or "feedback" (see
        mail.automated.classify)."""
        return self._classification[0]

    @property
    def kind_reason(self) -> str:
        """Why ``kind`` was chosen, e.g. "Auto-Submitted: auto-replied"; "" for normal."""
        return self._classification[1]

    @property
    def bounce(self) -> BounceInfo | None:
        """Failed recipients, status and original Message-ID for a bounce; else None."""
        info = self._classification[2]
        return info if isinstance(info, BounceInfo) else None

    @property
    def delivery_report(self) -> DeliveryReportInfo | None:
        """Recipients, action and status of a successful delivery report; else None."""
        info = self._classification[2]
        return info if isinstance(info, DeliveryReportInfo) else None

    @property
    def feedback(self) -> FeedbackInfo | None:
        """Type, recipients and source of a feedback (abuse) report; else None."""
        info = self._classification[2]
        return info if isinstance(info, FeedbackInfo) else None


def _addresses(head: HeaderBlock, name: str, hint: str) -> tuple[Address, ...]:
    found: list[Address] = []
    for raw in head.get_all(name):
        found.extend(Address(address=a, name=n) for n, a in parse_addresses(raw, hint))
    return tuple(found)


def _text(head: HeaderBlock, name: str, hint: str) -> str:
    raw = head.get(name)
    return decode_header_value(raw, hint) if raw is not None else ""


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one raw message. Never raises; problems are listed in ``.defects``.

    >>> parse_email(b"Subject: =?utf-8?q?Hej_d=C3=A5?=\\r\\n\\r\\nbody").subject
    'Hej då'
    """
    if not isinstance(raw, bytes):
        raw = _as_bytes(raw)
    if b"\r" in raw[:65536] and b"\n" not in raw[:65536]:
        raw = raw.replace(b"\r", b"\n")  # classic Mac line ends: the only copy we ever make
    try:
        return _parse(raw)
    except Exception as exc:  # last resort: keep the scan going with what we have
        logger.exception("parse_email failed")
        return ParsedEmail(
            subject="",
            from_=None,
            to=(),
            cc=(),
            bcc=(),
            reply_to=(),
            date=None,
            message_id=None,
            in_reply_to=None,
            references=(),
            size=len(raw),
            _raw=raw,
            _header_defects=(f"parser error: {type(exc).__name__}",),
        )


def _as_bytes(raw: object) -> bytes:
    # Callers sometimes hand over str, bytearray or memoryview (IMAP libraries differ).
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    try:
        data: bytes = bytes(raw)  # type: ignore[call-overload]
        return data
    except (TypeError, ValueError):
        logger.warning("parse_email got %s, not bytes", type(raw).__name__)
        return b""


_ENVELOPE_FROM = re.compile(rb">?From ([^\s@]+@[^\s]+)")
_SENDER_FALLBACKS = ("Sender", "Reply-To", "Return-Path", "X-Original-From", "X-Envelope-From")


def _sender(
    head: HeaderBlock, raw: bytes, hint: str, defects: list[str]
) -> Address | None:
    """The From mailbox, with fallbacks when From is missing or has no address: Sender,
    Reply-To, Return-Path and the mbox envelope line name who sent it (a defect notes it)."""
    found = _addresses(head, "From", hint)
    sender = next((a for a in found if a.address), found[0] if found else None)
    if sender is not None and sender.address:
        return sender
    for name in _SENDER_FALLBACKS:
        other = next((a for a in _addresses(head, name, hint) if a.address), None)
        if other is not None:
            defects.append(f"From without an address; sender taken from {name}")
            return Address(other.address, sender.name if sender and sender.name else other.name)
    envelope = _ENVELOPE_FROM.match(raw)
    if envelope is not None:
        defects.append("From without an address; sender taken from the mbox From line")
        address = envelope.group(1).decode("ascii", "replace").strip("<>")
        return Address(address, sender.name if sender else "")
    return sender


def _parse(raw: bytes) -> ParsedEmail:
    head = parse_header_block(raw, headers_start(raw))
    defects = list(head.defects)
    hint = ""
    if any(not value.isascii() for _, value in head.fields):
        declared = [m.group(1).decode("ascii") for m in _CHARSET_PARAM.finditer(raw[:65536])]
        values = [v for _, v in head.fields]
        if not declared:
            # Nothing declared anywhere: the body text (same writer, same charset) gives
            # the detector far more to go on than a short subject.
            values.append(raw[head.body_start : head.body_start + 8192])
        hint = guess_header_charset(values, declared)
    sender = _sender(head, raw, hint, defects)
    date_text = _text(head, "Date", hint)
    date = parse_date(date_text)
    if date_text and date is None:
        defects.append("unparseable Date header")
    if not head.fields:
        defects.append("no headers")
    in_reply = parse_msgid_list(_text(head, "In-Reply-To", hint))
    return ParsedEmail(
        subject=_text(head, "Subject", hint),
        from_=sender,
        to=_addresses(head, "To", hint),
        cc=_addresses(head, "Cc", hint),
        bcc=_addresses(head, "Bcc", hint),
        reply_to=_addresses(head, "Reply-To", hint),
        date=date,
        message_id=parse_msgid(_text(head, "Message-ID", hint)),
        in_reply_to=in_reply[0] if in_reply else None,
        references=parse_msgid_list(
            " ".join(decode_header_value(v, hint) for v in head.get_all("References"))
        ),
        size=len(raw),
        _raw=raw,
        _head=head,
        _hint=hint,
        _header_defects=tuple(defects),
    )
