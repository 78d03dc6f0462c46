"""Auto-reply and bounce detection, so the scanner never answers a robot.

``classify`` looks at, in order:
  1. delivery reports: ``multipart/report; report-type=delivery-status``, a
     ``message/delivery-status`` part, a mailer-daemon/postmaster sender, or a null
     Return-Path with a delivery-failure subject -> "bounce" (+ ``BounceInfo``);
  2. RFC 3834 and vendor headers: Auto-Submitted (not "no"), X-Autoreply, X-Autorespond,
     X-Auto-Response-Suppress (OOF/AutoReply/All), Precedence bulk/junk/auto_reply (ignored
     on mailing lists, which carry List-Id), read receipts -> "auto_reply";
  3. out-of-office subjects in the languages our customers write in -> "auto_reply";
  4. a null Return-Path ``<>`` -> "auto_reply".
A human reply through a mailing list (Precedence: list + List-Id) stays "normal".
"""

from __future__ import annotations

import email.message
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from .attachments import Attachment

Kind = Literal["normal", "auto_reply", "bounce"]


@dataclass(frozen=True)
class BounceInfo:
    """What a delivery failure report tells us; message id WITHOUT angle brackets."""

    recipients: tuple[str, ...]
    status: str | None
    original_message_id: str | None


class _AddressLike(Protocol):
    @property
    def address(self) -> str: ...


class EmailLike(Protocol):
    """The part of ``ParsedEmail`` that classification reads."""

    @property
    def subject(self) -> str: ...
    @property
    def from_(self) -> _AddressLike | None: ...
    @property
    def text_body(self) -> str: ...
    @property
    def attachments(self) -> tuple[Attachment, ...]: ...
    def header(self, name: str) -> tuple[str, ...]: ...


_BOUNCE_SENDER = re.compile(r"(?i)^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)(undeliver|undelivered mail|delivery status notification|delivery failure|"
    r"failure notice|returned mail|mail delivery (failed|subsystem)|non[- ]remis|"
    r"unzustellbar|nicht zustellbar|olevererbar|kan inte levereras|toimitus epäonnistui|"
    r"ei voitu toimittaa|onbestelbaar|no se puede entregar|non recapitabile|"
    r"não (foi possível )?entreg|niedostarczon|не доставлено|недоставлен)"
)
_OOF_STRONG = (
    r"out of (the )?office|automatic reply|auto[- ]?reply|autoresponse|auto response|"
    r"vacation reply|on vacation|away from (the )?office|autosvar|automatiskt svar|"
    r"automatisk svar|automatisk besked|frånvaro|fraværsmelding|fraværende|ikke på kontoret|"
    r"abwesenheitsnotiz|automatische antwort|abwesend|außer haus|r[ée]ponse automatique|"
    r"absent du bureau|absence du bureau|respuesta autom[aá]tica|fuera de la oficina|"
    r"automaattinen vastaus|poissaolo|automatisch antwoord|afwezigheid|niet aanwezig|"
    r"risposta automatica|fuori ufficio|fuori sede|resposta autom[aá]tica|ausente|"
    r"fora do escrit[oó]rio|odpowied[źz] automatyczna|autoodpowied[źz]|nieobecno[śs][ćc]|"
    r"автоматический ответ|автоответ|нет на месте|вне офиса|отпуск"
)
_OOF_WEAK = r"absence|absent|afwezig|poissa|borta|away|ferie|urlaub|vacances|vacaciones"
# The phrase must open the subject and be followed by a colon (or end the subject): "Out of
# office next week" written by a human stays normal, "Out of Office: Re: …" does not.
_OOF_SUBJECT = re.compile(
    rf"(?i)^\s*\[?(?:{_OOF_STRONG}|{_OOF_WEAK})\]?\s*(?:auto[- ]?reply\s*)?(?:[:：]|$|\()"
    r"|\bis (?:currently )?out of (?:the )?office\b"
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ADDR = r"[A-Za-z0-9._%+'=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_TEXT_RECIPIENT = re.compile(
    rf"(?im)^\s*<({_ADDR})>:|"
    rf"(?:message to|delivered to|delivery to|recipients?|address(?:es)?|"
    rf"empfänger|destinataire|mottagare|vastaanottaja)\W{{0,20}}<?({_ADDR})>?"
)
_TEXT_MSGID = re.compile(r"(?im)^\s*message-id:\s*<([^<>\s]+)>")
_AUTO_SUPPRESS_AUTOGEN = {"oof", "autoreply", "all"}


def classify(
    parsed_or_message: EmailLike | email.message.Message,
) -> tuple[Kind, str, BounceInfo | None]:
    """Return (kind, reason, bounce) for a ParsedEmail (or a stdlib ``Message``).

    >>> from mailscanner.mail.parsing import parse_email
    >>> classify(parse_email(b"From: a@b.c\\r\\nAuto-Submitted: auto-replied\\r\\n\\r\\nx"))[:2]
    ('auto_reply', 'Auto-Submitted: auto-replied')
    """
    if isinstance(parsed_or_message, email.message.Message):
        from .parsing import parse_email  # local: parsing imports this module

        try:
            data = parsed_or_message.as_bytes()
        except Exception:  # a hand-built Message may not serialize; classify what we can
            data = str(parsed_or_message).encode("utf-8", "surrogateescape")
        msg: EmailLike = parse_email(data)
    else:
        msg = parsed_or_message
    reason = _bounce_reason(msg)
    if reason:
        return "bounce", reason, bounce_info(msg)
    reason = _auto_reason(msg)
    if reason:
        return "auto_reply", reason, None
    return "normal", "", None


def _first(msg: EmailLike, name: str) -> str:
    values = msg.header(name)
    return values[0].strip() if values else ""


def _bounce_reason(msg: EmailLike) -> str:
    ctype = _first(msg, "Content-Type").lower()
    if ctype.startswith("multipart/report") and "delivery-status" in ctype:
        return "multipart/report; report-type=delivery-status"
    sender = msg.from_.address if msg.from_ else ""
    if _BOUNCE_SENDER.match(sender):
        return f"sender {sender.split('@')[0].lower()}"
    null_sender = _first(msg, "Return-Path") == "<>"
    failure_subject = bool(_BOUNCE_SUBJECT.search(msg.subject))
    if null_sender and failure_subject:
        return "empty Return-Path with delivery-failure subject"
    # Looking inside the MIME tree costs a body parse: only for already suspicious mail.
    suspicious = (null_sender or failure_subject) and ctype.startswith("multipart/")
    if suspicious and any(a.content_type in _DSN_TYPES for a in msg.attachments):
        return "message/delivery-status part"
    return ""


def _auto_reason(msg: EmailLike) -> str:
    auto = _first(msg, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _first(msg, name)
        if msg.header(name) and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}".rstrip(": ")
    suppress = _first(msg, "X-Auto-Response-Suppress")
    tokens = {t.strip().lower() for t in suppress.split(",")}
    if tokens & _AUTO_SUPPRESS_AUTOGEN:
        return f"X-Auto-Response-Suppress: {suppress}"
    precedence = _first(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply") and not msg.header("List-Id"):
        return f"Precedence: {precedence}"
    ctype = _first(msg, "Content-Type").lower()
    if ctype.startswith("multipart/report") and "disposition-notification" in ctype:
        return "read receipt (disposition-notification)"
    if _OOF_SUBJECT.search(msg.subject):
        return f"out-of-office subject: {msg.subject[:80]}"
    if _first(msg, "Return-Path") == "<>":
        return "empty Return-Path <>"
    return ""


def _dsn_fields(text: str) -> list[dict[str, str]]:
    """Split a message/delivery-status body into header groups (lower-cased keys)."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r", "").split("\n"):
        if not line.strip():
            if current:
                groups.append(current)
                current = {}
            continue
        if line[:1] in (" ", "\t") and last in current:
            current[last] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip().lower()
            current[last] = value.strip()
    if current:
        groups.append(current)
    return groups


def _strip_type(value: str) -> str:
    # "rfc822; user@example.com" -> "user@example.com"
    return value.split(";", 1)[-1].strip().strip("<>").strip()


def _head_of(att: Attachment, limit: int = 200_000) -> bytes:
    # A bounce may carry the whole original (with its attachments): read only the start.
    taken: list[bytes] = []
    size = 0
    for chunk in att.iter_payload():
        taken.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(taken)[:limit]


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",
    "message/global-headers",
)


def _dsn_recipients(att: Attachment) -> list[tuple[str, str | None]]:
    """(recipient, status) per recipient group; failed ones only when any failed."""
    rows: list[tuple[str, str | None, str]] = []
    for group in _dsn_fields(_head_of(att).decode("utf-8", "replace")):
        rcpt = group.get("final-recipient") or group.get("original-recipient")
        if rcpt:
            code = _STATUS.search(group.get("status", ""))
            action = group.get("action", "failed").lower()
            rows.append((_strip_type(rcpt), code.group(1) if code else None, action))
    failed = [row for row in rows if row[2] == "failed"] or rows
    return [(rcpt, status) for rcpt, status, _ in failed]


def _original_message_id(att: Attachment) -> str | None:
    head = _head_of(att).decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n", 1)[0]
    found = _TEXT_MSGID.search(head)
    return found.group(1) if found else None


def _text_recipients(msg: EmailLike, text: str) -> list[str]:
    found: list[str] = []
    for value in msg.header("X-Failed-Recipients"):  # Exim and Gmail name them here too
        found.extend(a.strip() for a in value.split(",") if "@" in a)
    if not found:
        for match in _TEXT_RECIPIENT.finditer(text):
            found.append(match.group(1) or match.group(2))
    return found


def bounce_info(msg: EmailLike) -> BounceInfo:
    """Failed recipients, status code and original Message-ID from a bounce, best effort.

    The machine-readable parts come first (message/delivery-status, the returned headers);
    the human-readable text only fills what they leave open.
    """
    rows: list[tuple[str, str | None]] = []
    original: str | None = None
    for att in msg.attachments:
        if att.content_type in _DSN_TYPES:
            rows.extend(_dsn_recipients(att))
        elif att.content_type in _ORIGINAL_TYPES and original is None:
            original = _original_message_id(att)
    text = msg.text_body[:200_000]
    recipients = [rcpt for rcpt, _ in rows] or _text_recipients(msg, text)
    status = next((code for _, code in rows if code), None)
    if status is None:
        code = _STATUS.search(text)
        status = code.group(1) if code else None
    if original is None:
        found = _TEXT_MSGID.search(text)
        original = found.group(1) if found else None
    return BounceInfo(tuple(dict.fromkeys(recipients)), status, original)
