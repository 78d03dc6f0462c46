"""Reply-above extraction: keep what the customer wrote, set aside what they quoted.

Our outgoing template starts with a marker line (``DEFAULT_MARKER``). ``extract_reply``:
  1. looks for the marker in the plain text, then in the HTML's text conversion — tolerant
     of ``>`` quoting, client re-wrapping and blockquote indentation — and keeps what is
     above it, minus the "On … wrote:" attribution or Outlook header block right above;
  2. without a marker, cuts at the earliest sign of a quoted original in the plain text:
     an attribution line (13 languages), "-----Original Message-----", a localized Outlook
     "From:/Sent:" block, a ``>``-quoted tail, or the ``-- `` signature delimiter;
  3. failing that, cuts the HTML at the first quote container (Gmail ``div.gmail_quote``,
     Apple ``blockquote type=cite``, Outlook ``#appendonsend``/``#divRplyFwdMsg``...).
The cut text is always returned as ``quoted_text`` so an agent can see the full original.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

from .html import html_to_text

logger = logging.getLogger(__name__)

DEFAULT_MARKER = "##- Please type your reply above this line -##"
MAX_INPUT_CHARS = 500_000  # beyond this a "reply" is not typed by hand; keep regexes bounded


@dataclass(frozen=True)
class ReplyParts:
    """``reply_text``: the new text; ``quoted_text``: what was cut; ``method``: how."""

    reply_text: str
    quoted_text: str
    found_marker: bool
    method: str  # marker | attribution | original_message | outlook_header | quote_prefix
    #               | signature | html_quote | none


_VERBS = (
    r"wrote|skrev|kirjoitti|schrieb|a\s+écrit|escribió|schreef|ha\s+scritto|escreveu|"
    r"scrisse|pisze|napisał(?:\(a\)|a)?|написал(?:\(а\)|а)?|пишет|skrifaði|geschreven"
)
# The verb may be followed by the sender ("Am … schrieb Anna:", "Den … skrev Anna <a@b>:").
_ATTR_END = re.compile(rf"(?i)(?:^|\W)(?:{_VERBS})\b.{{0,160}}?:\s*$")
# Attributions without a final verb: Gmail in Russian ("пн, 4 мар. 2024 г. в 10:12, Anna
# <a@b>:"), iOS in Polish ("Wiadomość napisana przez Anna <a@b> w dniu 04.03.2024, o godz.
# 10:12:"), QQ/Foxmail in Chinese ("在 2024年3月4日 10:12，Anna 写道：").
_ATTR_FULL = re.compile(
    r"(?i)^(?:\S{1,4},\s+\d{1,2}\s+\S+\s+\d{4}\s*г\.\s*в\s+\d{1,2}:\d{2},.{1,200}"
    r"|wiadomość napisana przez .{1,300}|在.{1,200}(?:写道|寫道)"
    r"|.{1,200}(?:のメッセージ|は書きました))"
    r"\s*[:：]\s*$"
)
_ATTR_START = re.compile(
    r"(?i)^(?:>\s*)*(?:on|den|am|le|el|op|il\s+giorno|il|em|w\s+dniu|dnia|\d|\S{1,5}[.,]{0,2}\s+\d)"
)
_EVIDENCE = re.compile(r"@|\d")

_SEPARATOR = re.compile(
    r"(?i)^[\s>]*[-_=*]{2,}\s*(?:original message|ursprüngliche nachricht|originalmeddelande|"
    r"ursprungligt meddelande|alkuperäinen viesti|opprinnelig melding|oprindelig meddelelse|"
    r"original meddelelse|message d'origine|mensaje original|oorspronkelijk bericht|"
    r"origineel bericht|messaggio originale|mensagem original|wiadomość oryginalna|"
    r"oryginalna wiadomość|исходное сообщение|пересланное сообщение|forwarded message|"
    r"weitergeleitete nachricht|vidarebefordrat meddelande|message transféré|原始邮件|原始郵件|"
    r"元のメッセージ)\s*[-_=*]{2,}\s*$"
)
_RULE_LINE = re.compile(r"^[\s>]*_{10,}\s*$")  # Outlook web's line above its header block
_FROM_FIELD = re.compile(
    r"(?i)^[\s>]*\**(?:from|från|von|de|lähettäjä|fra|frå|van|da|od|от|expéditeur|remitente|"
    r"mittente|nadawca|afsender|avsändare|kimden|发件人|寄件者|差出人)\**\s*[:：]\**\s*\S"
)
_SENT_FIELD = re.compile(
    r"(?i)^[\s>]*\**(?:sent|date|skickat|datum|gesendet|envoyé|date d'envoi|lähetetty|"
    r"päivämäärä|sendt|verzonden|inviato|data|enviado|enviada|fecha|wysłano|wysłane|"
    r"отправлено|дата|gönderildi|tarih|发送时间|日期|寄件日期|送信日時|日時)\**\s*[:：]"
)
_HEADER_FIELD = re.compile(
    r"(?i)^[\s>]*\**(?:from|sent|to|cc|bcc|subject|date|reply-to|importance|"
    r"från|skickat|till|kopia|ämne|datum|von|gesendet|an|betreff|de|envoyé|à|objet|"
    r"lähettäjä|lähetetty|vastaanottaja|kopio|aihe|fra|sendt|til|emne|kopi|emne|van|"
    r"verzonden|aan|onderwerp|da|inviato|a|oggetto|para|enviado|asunto|assunto|od|"
    r"wysłano|do|temat|от|отправлено|кому|копия|тема|дата|发件人|发送时间|收件人|抄送|主题|"
    r"差出人|送信日時|宛先|件名)\**\s*[:：]"
)
_SIGNATURE = re.compile(r"^-- ?$")

_HTML_QUOTE_XPATH = (
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //blockquote[@type='cite']"
    " | //div[@id='appendonsend'] | //div[@id='divRplyFwdMsg']"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"
    " | //*[@id='OLK_SRC_BODY_SECTION'] | //hr[@id='stopSpelling']"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')]"
)


def _marker_pattern(marker: str) -> re.Pattern[str] | None:
    tokens = marker.split()
    if not tokens:
        return None
    # Between words a client may re-wrap the line and prefix the new line with "> ".
    return re.compile(r"[\s>]+".join(re.escape(t) for t in tokens), re.I)


def _may_hold_marker(html: str, marker: str) -> bool:
    """False when the HTML cannot show the marker: one of its ASCII words is missing
    (non-ASCII letters may be written as entities, so only ASCII words rule it out)."""
    words = [t for t in re.findall(r"[A-Za-z0-9]+", marker) if t.isascii()]
    lowered = html.lower()
    return all(w.lower() in lowered for w in words)


def _strip_lines(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_at(lines: list[str], j: int, need_evidence: bool = True) -> int | None:
    """If line j ends an attribution ("… wrote:"), return the line where it starts.

    Mid-text, an attribution must show a date or an address (``need_evidence``); right above
    a quote we already found, the verb alone is enough.
    """
    line = lines[j].strip()
    if len(line) > 400 or not line.endswith((":", "：")):
        return None
    if not _ATTR_END.search(line):
        for k in (1, 2, 3):
            start = j - k + 1
            joined_full = " ".join(w.strip().lstrip("> ") for w in lines[max(start, 0) : j + 1])
            if start >= 0 and _ATTR_FULL.match(joined_full):
                return start
        return None
    # Clients wrap long attributions: extend upward over up to two unpunctuated lines.
    for k in (3, 2):
        start = j - k + 1
        if start < 0:
            continue
        window = lines[start : j + 1]
        if any(not w.strip() or w.rstrip().endswith((".", "!", "?")) for w in window[:-1]):
            continue
        joined = " ".join(w.strip() for w in window)
        if len(joined) <= 400 and _ATTR_START.match(joined) and _EVIDENCE.search(joined):
            return start
    return j if _EVIDENCE.search(line) or not need_evidence else None


def _outlook_block_at(lines: list[str], i: int) -> bool:
    if not _FROM_FIELD.match(lines[i]):
        return False
    return any(_SENT_FIELD.match(line) for line in lines[i + 1 : i + 6])


def _find_cut(lines: list[str]) -> tuple[int, str] | None:
    """Earliest line where quoted material starts, and which signal found it."""
    quoted_tail_from: int | None = None
    for idx in range(len(lines) - 1, -1, -1):
        if not lines[idx].strip():
            continue
        if not _is_quoted(lines[idx]):
            break
        quoted_tail_from = idx
    for i, line in enumerate(lines):
        if quoted_tail_from is not None and i >= quoted_tail_from:
            return quoted_tail_from, "quote_prefix"
        if _SEPARATOR.match(line):
            return i, "original_message"
        if _outlook_block_at(lines, i):
            back = i - 1 if i > 0 and _RULE_LINE.match(lines[i - 1]) else i
            return back, "outlook_header"
        start = _attribution_at(lines, i)
        if start is not None:
            return start, "attribution"
        if _SIGNATURE.match(line):
            return i, "signature"
    return None


def _trim_tail(lines: list[str]) -> tuple[list[str], list[str]]:
    """Strip an attribution / Outlook header block / separator left right above a cut."""
    keep = list(lines)
    cut: list[str] = []
    while keep:
        if not keep[-1].strip() or keep[-1].strip(" >") == "":
            cut.insert(0, keep.pop())
            continue
        start = _attribution_at(keep, len(keep) - 1, need_evidence=False)
        if start is None and (_SEPARATOR.match(keep[-1]) or _RULE_LINE.match(keep[-1])):
            start = len(keep) - 1
        if start is None and _HEADER_FIELD.match(keep[-1]):
            first = len(keep) - 1
            while first > 0 and _HEADER_FIELD.match(keep[first - 1]):
                first -= 1
            if any(_FROM_FIELD.match(line) for line in keep[first:]):
                start = first
        if start is None:
            break
        cut = keep[start:] + cut
        del keep[start:]
    return keep, cut


def _split_at_marker(text: str, marker: str) -> ReplyParts | None:
    pattern = _marker_pattern(marker)
    match = pattern.search(text) if pattern else None
    if match is None:
        return None
    line_start = text.rfind("\n", 0, match.start()) + 1
    lines = text[:line_start].split("\n")[:-1]
    header: list[str] = []
    if _is_quoted(text[line_start : match.start() + 1]):
        # A quoted marker: the quoted lines right above it (often the attribution, as iOS
        # quotes it) are part of the same quote.
        while lines and (_is_quoted(lines[-1]) or not lines[-1].strip()):
            header.insert(0, lines.pop())
    above, trimmed = _trim_tail(lines)
    header = trimmed + header
    quoted = "\n".join(header + text[line_start:].split("\n"))
    return ReplyParts(_strip_lines(above), quoted.strip("\n").rstrip(), True, "marker")


def _split_heuristic(text: str) -> ReplyParts | None:
    lines = text.split("\n")
    found = _find_cut(lines)
    if found is None:
        return None
    index, method = found
    above, header = _trim_tail(lines[:index])
    return ReplyParts(_strip_lines(above), _strip_lines(header + lines[index:]), False, method)


def _split_html_dom(html: str) -> ReplyParts | None:
    try:
        root = lxml.html.document_fromstring(html)
        nodes = root.xpath(_HTML_QUOTE_XPATH)
    except (lxml.etree.LxmlError, ValueError):
        return None
    if not nodes:
        return None
    order = {el: n for n, el in enumerate(root.iter())}
    node = min(nodes, key=lambda el: order.get(el, 1 << 30))
    removed: list[str] = []
    current = node
    while current is not None and current is not root:
        parent = current.getparent()
        if parent is None:
            break
        siblings = (
            [current] + list(current.itersiblings())
            if current is node
            else list(current.itersiblings())
        )
        for sib in siblings:
            removed.append(lxml.html.tostring(sib, encoding="unicode"))
            parent.remove(sib)
        if current is not node and current.tail:
            removed.append(current.tail)
            current.tail = None
        current = parent
    reply_text = html_to_text(lxml.html.tostring(root, encoding="unicode"))
    above, header = _trim_tail(reply_text.split("\n"))
    quoted = "\n".join(header + html_to_text("".join(removed)).split("\n"))
    return ReplyParts(_strip_lines(above), quoted.strip("\n").rstrip(), False, "html_quote")


def extract_reply(
    text_body: str, html_body: str | None = None, marker: str = DEFAULT_MARKER
) -> ReplyParts:
    """Split a customer's mail into the new text and the quoted original.

    >>> extract_reply("Thanks!\\n\\nOn Mon, 4 Mar 2024, Help <h@x.se> wrote:\\n> hi").reply_text
    'Thanks!'
    """
    text = (text_body or "")[:MAX_INPUT_CHARS].replace("\r\n", "\n")
    html = (html_body or "")[:MAX_INPUT_CHARS]
    try:
        result = _split_at_marker(text, marker) if text else None
        # HTML to text is the costly step (about a millisecond a mail): only when needed.
        if result is None and html.strip() and _may_hold_marker(html, marker):
            result = _split_at_marker(html_to_text(html), marker)
        if result is None and text.strip():
            result = _split_heuristic(text)
        if result is None and html.strip():
            result = _split_html_dom(html)
            if result is None and not text.strip():
                # With a plain part, its heuristics above saw the same quote as text.
                result = _split_heuristic(html_to_text(html))
    except Exception:  # a reply that cannot be split is still a reply: keep it whole
        logger.exception("reply extraction failed")
        result = None
    if result is not None:
        return result
    whole = text if text.strip() else html_to_text(html)
    return ReplyParts(whole.strip("\n").rstrip(), "", False, "none")
