"""Bounces: recognising delivery failures and reading who failed and why.

Signals, strongest first (``bounce_reason``):
  1. a ``multipart/report; report-type=delivery-status`` (RFC 3464) with a failed or
     delayed recipient (all-success reports are delivery reports, see ``dsn``);
  2. ``X-Failed-Recipients`` (Exim, Gmail); a mailer-daemon/postmaster sender address;
  3. a null ``Return-Path: <>`` with a delivery-failure subject;
  4. MTAs that write no report part (DragonFly dma, Apache James, FML lists, qmail, "simple"
     bounces that are a status line and the returned message): a daemon-like sender name
     or list server, or a delivery-failure subject with the failed message sent back,
     together with a bounce phrase and hard evidence in the text (a failed address and an
     enhanced status code, SMTP reply code or the returned original). A person who writes
     "your mail could not be delivered" and quotes "550 5.1.1" has none of the robot's
     marks, and a forwarded bounce ("Fwd: Undeliverable...") is a person's mail;
  5. a ``message/delivery-status`` part inside another container of suspicious mail.

``bounce_info`` then reads recipients, status and the original Message-ID: from the
delivery-status part first, then from the text (MTA-specific phrasings, then any address
in the explanation that is not the bounce's own sender or recipient).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .dsn import DSN_TYPES, BounceInfo, DsnRow, failed_rows
from .view import ADDR, ADDRESS, MSGID_LINE, STATUS, first

if TYPE_CHECKING:
    from .view import EmailLike

_DAEMON_SENDER = re.compile(
    r"(?i)^(?:mailer-daemon|mailer_daemon|postmaster|mail-daemon|mailerdaemon|maildaemon|"
    r"mail\.daemon|mdaemon|bounces?\+?[^@]*|nobody-bounce)@"
)
_DAEMON_NAME = re.compile(
    r"(?i)^\s*(?:mailer[- ]daemon|mail delivery (?:system|subsystem|service)|postmaster|"
    r"mail administrator|mail system|delivery status notification|mail delivery|"
    r"microsoft outlook|internet mail delivery|mail transport agent|smtp gateway)\b"
)
FAILURE_SUBJECT = re.compile(
    r"(?i)(undeliver|undelivered mail|delivery status notification \((?:failure|delay)\)|"
    r"delivery failure|delivery has failed|failure notice|returned mail|"
    r"mail delivery (?:failed|failure|subsystem)|\[bounce\]|delivery notification: delivery|"
    r"non[- ]?deliverable|could not (?:be )?deliver|not delivered|delivery problem|"
    r"message not delivered|mail system error|warning: could not send|"
    r"non[- ]remis|échec de (?:la )?remise|unzustellbar|nicht zustellbar|"
    r"zustellung fehlgeschlagen|olevererbar|kan inte levereras|kunne ikke leveres|"
    r"toimitus epäonnistui|ei voitu toimittaa|onbestelbaar|no se puede entregar|"
    r"no entregado|non recapitabile|impossibile recapitare|não (?:foi possível )?entreg|"
    r"niedostarczon|не доставлено|недоставлен|не удалось доставить|配信不能|退信|"
    r"系统退信|fml status report|error report)"
)
# Stems of FAILURE_SUBJECT: a subject with none of them is rejected without the regex (a
# case-insensitive alternation of forty phrases costs tens of microseconds per subject).
_FAILURE_STEMS = (
    "deliver", "failure", "returned", "bounce", "remis", "zustell", "levere", "toimit",
    "bestelbaar", "entreg", "recapit", "dostarcz", "достав", "配信", "退信", "fml",
    "error report", "mail system", "could not send",
)


def failure_subject(subject: str) -> bool:
    """A delivery-failure subject ("Undeliverable: …", "Mail delivery failed", …)."""
    low = subject.lower()
    return any(stem in low for stem in _FAILURE_STEMS) and bool(FAILURE_SUBJECT.search(subject))


_HUMAN_PREFIX = re.compile(
    r"(?i)^\s*(?:re|fwd?|aw|wg|sv|vs|vb|tr|rv|enc|res|odp|pd|ответ|ha)\s*(?:\[\d+\])?\s*[:：]"
)
_BOUNCE_PHRASE = re.compile(
    r"(?i)(could not be delivered|couldn't be delivered|was not delivered|wasn't delivered|"
    r"delivery (?:has )?failed|failed permanently|permanent (?:fatal )?errors?|"
    r"undeliverable|unable to deliver|undelivered|not be delivered|delivery to the following|"
    r"error delivering your mail|wasn't able to deliver|following address(?:es)? failed|"
    r"could not deliver|user unknown|unknown user|no such user|mailbox (?:unavailable|full|"
    r"not found)|recipient address rejected|does not exist|not a member of this mailing list|"
    r"original mail as follows|returned to sender|message could not|delivery attempts? "
    r"(?:will continue|failed)|giving up|has been rejected|address rejected|host unknown|"
    r"nicht zugestellt|konnte nicht zugestellt|n'a pas pu être remis|no pudo ser entregado|"
    r"kunde inte levereras|не может быть доставлено|не удалось доставить)"
)
_SMTP_CODE = re.compile(r"(?m)(?:^|said:|\s)([45][0-5]\d)[\s-](?=.{0,200}?[A-Za-z])")
_RETURNED = re.compile(
    r"(?im)^(?:[- ]*(?:original (?:mail|message)|message headers follow|this is a copy of the "
    r"message|below this line is a copy|unsent message below|the original message|"
    r"returned message|message details)\b.*|(?:received|return-path|message-id|"
    r"x-original-to|subject):\s.*)$"
)
_RECIPIENT_PATTERNS = (
    re.compile(rf"(?im)^\s*rcpt to:\s*<?({ADDR})>?"),
    re.compile(rf"(?im)(?:final|original)-recipient:\s*(?:rfc822;)?\s*<?({ADDR})>?"),
    re.compile(rf"(?i)error delivering your mail to <?({ADDR})>?"),
    re.compile(rf"(?im)^\s*<({ADDR})>\s*(?::|\.\.\.|$|\s)"),
    re.compile(
        rf"(?is)(?:failed recipients?|following (?:address(?:es)?|recipients?)(?: failed)?|"
        rf"delivery to the following recipients?(?: failed(?: permanently)?)?|"
        rf"not a member of this mailing list|could not be delivered to)\W{{0,40}}?<?({ADDR})>?"
    ),
    re.compile(
        rf"(?i)(?:message to|delivery to|recipients?|address(?:es)?|empfänger|destinataire|"
        rf"mottagare|vastaanottaja|получатель)\W{{0,20}}<?({ADDR})>?"
    ),
)
_NOT_RECIPIENT = re.compile(r"(?i)^(?:mailer-daemon|postmaster|mail-daemon|abuse|noreply)@")


def is_daemon(msg: EmailLike) -> bool:
    """A sender address or name that only delivery software uses."""
    sender = msg.from_
    if sender is None:
        return False
    return bool(_DAEMON_SENDER.match(sender.address) or _DAEMON_NAME.match(sender.name))


def explanation(text: str) -> str:
    """The bounce's own words: the text before the returned original starts."""
    found = _RETURNED.search(text, 0, 100_000)
    return text[: found.start()] if found else text[:100_000]


def _returned_original(msg: EmailLike, text: str) -> bool:
    # The message that failed, sent back: an attached message/headers part, or its header
    # lines below the bounce's own words.
    if len(explanation(text)) < len(text[:100_000]):
        return True
    return any(a.content_type in ("message/rfc822", "text/rfc822-headers") for a in msg.attachments)


def _text_evidence(msg: EmailLike, returned: bool) -> bool:
    text = msg.text_body[:100_000]
    head = explanation(text)
    if not _BOUNCE_PHRASE.search(head) and not _BOUNCE_PHRASE.search(msg.subject):
        return False
    has_code = bool(STATUS.search(head) or _SMTP_CODE.search(head))
    return bool(text_recipients(msg, text)) and (has_code or returned)


def bounce_reason(msg: EmailLike, dsn_rows: list[DsnRow] | None) -> str:
    """Why the message is a bounce, or "" (``dsn_rows``: rows of a delivery-status report)."""
    ctype = first(msg, "Content-Type").lower()
    if dsn_rows is not None:
        return "multipart/report; report-type=delivery-status"
    if msg.header("X-Failed-Recipients"):
        return "X-Failed-Recipients header"
    sender = msg.from_.address if msg.from_ else ""
    if _DAEMON_SENDER.match(sender):
        return f"sender {sender.split('@')[0].lower()}"
    null_sender = first(msg, "Return-Path").replace(" ", "") in ("<>", "")
    null_sender = null_sender and bool(msg.header("Return-Path"))
    failed = failure_subject(msg.subject)
    human = bool(_HUMAN_PREFIX.match(msg.subject))
    if null_sender and failed and not human:
        return "empty Return-Path with delivery-failure subject"
    # A person can write a failure subject and quote an SMTP error; a robot also signs as
    # one (daemon name, list server) or sends the failed message back.
    robot = is_daemon(msg) or bool(msg.header("X-MLServer"))
    if not human and (robot or failed):
        returned = _returned_original(msg, msg.text_body[:100_000])
        if (robot or returned) and _text_evidence(msg, returned):
            return "delivery failure report in the text"
    suspicious = (null_sender or failed) and ctype.startswith("multipart/")
    if suspicious and any(a.content_type in DSN_TYPES for a in msg.attachments):
        return "message/delivery-status part"
    return ""


def text_recipients(msg: EmailLike, text: str) -> list[str]:
    """Failed addresses named in a bounce's text (MTA phrasings, then any stray address)."""
    found: list[str] = []
    for value in msg.header("X-Failed-Recipients"):  # Exim and Gmail name them here too
        found.extend(a.strip().strip("<>") for a in value.split(",") if "@" in a)
    if found:
        return found
    head = explanation(text)
    for pattern in _RECIPIENT_PATTERNS:
        source = text if pattern is _RECIPIENT_PATTERNS[0] else head
        found.extend(m.group(1) for m in pattern.finditer(source[:100_000]))
        if found:
            break
    own = {a.lower() for value in msg.header("To") for a in ADDRESS.findall(value)}
    own |= {(msg.from_.address if msg.from_ else "").lower()}
    if not found:
        found = [a for a in ADDRESS.findall(head[:20_000]) if a.lower() not in own]
    return [a for a in found if not _NOT_RECIPIENT.match(a) and a.lower() not in own] or [
        a for a in found if not _NOT_RECIPIENT.match(a)
    ]


def text_status(text: str) -> str | None:
    """The enhanced status code of a bounce's explanation, else one built from an SMTP
    reply code (550 -> "5.0.0")."""
    head = explanation(text)
    code = STATUS.search(head)
    if code:
        return code.group(1)
    smtp = _SMTP_CODE.search(head)
    return f"{smtp.group(1)[0]}.0.0" if smtp else None


def bounce_info(msg: EmailLike, rows: list[DsnRow], original: str | None) -> BounceInfo:
    """Failed recipients, status code and original Message-ID, best effort.

    The machine-readable parts come first (delivery-status rows, the returned headers);
    the human-readable text only fills what they leave open.
    """
    failed = failed_rows(rows)
    text = msg.text_body[:200_000]
    recipients = [row.recipient for row in failed] or text_recipients(msg, text)
    status = next((row.status for row in failed if row.status), None) or text_status(text)
    if original is None:
        found = MSGID_LINE.search(text)
        original = found.group(1) if found else None
    delayed = bool(failed) and all(row.action == "delayed" for row in failed)
    return BounceInfo(tuple(dict.fromkeys(recipients)), status, original, delayed)
