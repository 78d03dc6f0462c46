"""Auto-replies: RFC 3834 and vendor headers, out-of-office subjects, read receipts.

A human reply through a mailing list (Precedence: list + List-Id) is not an auto-reply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .view import first

if TYPE_CHECKING:
    from .view import EmailLike

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
_AUTO_SUPPRESS_AUTOGEN = {"oof", "autoreply", "all"}


def auto_reply_reason(msg: EmailLike) -> str:
    """Why the message is an auto-reply, or ""."""
    auto = first(msg, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = first(msg, name)
        if msg.header(name) and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}".rstrip(": ")
    suppress = first(msg, "X-Auto-Response-Suppress")
    tokens = {t.strip().lower() for t in suppress.split(",")}
    if tokens & _AUTO_SUPPRESS_AUTOGEN:
        return f"X-Auto-Response-Suppress: {suppress}"
    precedence = first(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply") and not msg.header("List-Id"):
        return f"Precedence: {precedence}"
    ctype = first(msg, "Content-Type").lower()
    if ctype.startswith("multipart/report") and "disposition-notification" in ctype:
        return "read receipt (disposition-notification)"
    if _OOF_SUBJECT.search(msg.subject):
        return f"out-of-office subject: {msg.subject[:80]}"
    if first(msg, "Return-Path") == "<>":
        return "empty Return-Path <>"
    return ""
