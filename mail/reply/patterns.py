"""What quoting looks like, client by client and language by language (regexes only).

Attribution lines ("On … wrote:"), "Original message" separators, forward markers, the
header blocks clients write above an embedded original (From/Sent/To/Subject, localized),
signature delimiters and "Sent from my …" lines. Every pattern is bounded (no nested
repeats, ``.{0,n}`` windows), so a hostile line costs time linear in its length.
"""

from __future__ import annotations

import re

VERBS = (
    r"wrote|writes|skrev|kirjoitti|schrieb|a\s+écrit|escribió|escribio|schreef|ha\s+scritto|"
    r"escreveu|scrisse|pisze|napisał(?:\(a\)|a)?|napisal|написал(?:\(а\)|а)?|пишет|пише|"
    r"написав(?:\(ла\))?|написала|skrifaði|geschreven|đã\s+viết|viết|yazdı|írta|napsal(?:\(a\)|a)?|"
    r"έγραψε|kirjutas|rašė|rakstīja|写道|寫道|작성|wrote\s+on"
)
# The verb may be followed by the sender ("Am … schrieb Anna:", "Den … skrev Anna <a@b>:").
ATTR_END = re.compile(rf"(?i)(?:^|\W)(?:{VERBS})(?:\W.{{0,160}}?)?[:：]\s*$")
# Attributions without a final verb: Gmail in Russian ("пн, 4 мар. 2024 г. в 10:12, Anna
# <a@b>:"), iOS in Polish ("Wiadomość napisana przez Anna <a@b> w dniu 04.03.2024, o godz.
# 10:12:"), QQ/Foxmail in Chinese ("在 2024年3月4日 10:12，Anna 写道："), Mail.ru
# ("Понедельник, 4 марта 2024, 10:12 +03:00 от Anna <a@b>:"), Japanese Gmail.
ATTR_FULL = re.compile(
    r"(?i)^(?:\S{1,4},\s+\d{1,2}\s+\S+\s+\d{4}\s*г\.\s*в\s+\d{1,2}:\d{2},.{1,200}"
    r"|wiadomość napisana przez .{1,300}|在.{1,200}(?:写道|寫道)"
    r"|.{1,200}(?:のメッセージ|は書きました)"
    r"|.{0,120}\d{1,2}:\d{2}.{0,40}\s(?:от|від|from|de|von|van|da|fra|från|od)\s.{1,160}@.{1,160})"
    r"\s*[:：]\s*$"
)
ATTR_START = re.compile(
    r"(?i)^(?:>\s*)*(?:on|den|am|le|el|op|il\s+giorno|il|em|w\s+dniu|dnia|vào|в|у|\d|"
    r"\S{1,5}[.,]{0,2}\s+\d)"
)
EVIDENCE = re.compile(r"@|\d")
# A date or time: what separates "Kim <kim@x> (2024-03-04 10:12):" from a sentence.
DATE_HINT = re.compile(r"\d{1,2}[:.h]\d{2}|\b(?:19|20)\d{2}\b|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|年")
# The verbless form "<date>, <sender> <address>:" (Gmail in several languages, Yandex,
# Android clients): needs an address and a date, and quoted lines right below it.
ATTR_GENERIC = re.compile(r"^.{0,200}[\w.+-]@[\w-]+(?:\.[\w-]+)+.{0,20}[:：]\s*$")

SEPARATOR = re.compile(
    r"(?i)^[\s>]*[-_=*]{2,}\s*(?:original message|ursprüngliche nachricht|originalmeddelande|"
    r"ursprungligt meddelande|alkuperäinen viesti|opprinnelig melding|oprindelig meddelelse|"
    r"original meddelelse|message d'origine|mensaje original|oorspronkelijk bericht|"
    r"origineel bericht|messaggio originale|mensagem original|wiadomość oryginalna|"
    r"oryginalna wiadomość|исходное сообщение|вихідне повідомлення|оригінальне повідомлення|"
    r"thư gốc|tin nhắn gốc|原始邮件|原始郵件|元のメッセージ|original-nachricht|"
    r"původní zpráva|orijinal mesaj|eredeti üzenet)\s*[-_=*]{2,}\s*$"
)
# Forwarded messages are the customer's content: never cut at these.
FORWARD = re.compile(
    r"(?i)^\s*(?:[-_=*]{2,}\s*)?(?:forwarded message|begin forwarded message|"
    r"weitergeleitete nachricht|anfang der weitergeleiteten nachricht|"
    r"vidarebefordrat meddelande|videresendt (?:melding|meddelelse|besked)|"
    r"videresendt e-post|message transféré|début du message (?:réexpédié|transféré)|"
    r"doorgestuurd bericht|begin doorgestuurd bericht|messaggio inoltrato|"
    r"inizio messaggio inoltrato|mensaje reenviado|comienzo del mensaje reenviado|"
    r"mensagem encaminhada|início da mensagem reencaminhada|przekazana wiadomość|"
    r"wiadomość przekazana|пересланное сообщение|пересылаемое сообщение|"
    r"переслане повідомлення|välitetty viesti|edelleenlähetetty viesti|"
    r"tin nhắn đã chuyển tiếp|thư đã chuyển tiếp|转发的邮件|轉寄的郵件|転送されたメッセージ|"
    r"forwarded email|forward message)\s*:?\s*(?:[-_=*]{2,})?\s*$"
)
FORWARD_SUBJECT = re.compile(
    r"(?i)^\s*(?:fwd?|fw|wg|vb|vs|tr|enc|rv|i|doorst|pd|fwd?\s*\[\d+\]|пересл|переслати|"
    r"转发|轉寄|転送)\s*[:：]"
)
RULE_LINE = re.compile(r"^[\s>]*_{10,}\s*$")  # Outlook's line above its header block

_FROM_NAMES = (
    r"from|från|von|de|lähettäjä|fra|frå|van|da|od|от|від|expéditeur|remitente|mittente|"
    r"nadawca|afsender|avsändare|kimden|từ|feladó|發件人|发件人|寄件者|差出人|보낸 사람|frá"
)
_SENT_NAMES = (
    r"sent|date|skickat|datum|gesendet|envoyé|date d'envoi|lähetetty|päivämäärä|sendt|dato|"
    r"verzonden|inviato|data|enviado|enviada|enviado el|enviada em|fecha|wysłano|wysłane|"
    r"отправлено|дата|надіслано|gönderildi|tarih|gửi|ngày|ngày gửi|odesláno|elküldve|"
    r"发送时间|日期|寄件日期|送信日時|日時|보낸 날짜|날짜|sendur"
)
_OTHER_NAMES = (
    r"to|cc|bcc|subject|reply-to|importance|till|kopia|ämne|an|betreff|à|objet|"
    r"vastaanottaja|kopio|aihe|til|emne|kopi|aan|onderwerp|a|oggetto|para|asunto|assunto|"
    r"do|temat|кому|копия|тема|копія|đến|chủ đề|tiêu đề|kime|konu|komu|předmět|címzett|tárgy|"
    r"收件人|抄送|主题|主旨|宛先|件名|받는 사람|제목|til|efni"
)
FROM_FIELD = re.compile(rf"(?i)^[\s>]*\**(?:{_FROM_NAMES})\**\s*[:：]\**(?:\s*\S|\s*$)")
SENT_FIELD = re.compile(rf"(?i)^[\s>]*\**(?:{_SENT_NAMES})\**\s*[:：]")
OTHER_FIELD = re.compile(rf"(?i)^[\s>]*\**(?:{_OTHER_NAMES})\**\s*[:：]")
HEADER_FIELD = re.compile(
    rf"(?i)^[\s>]*\**(?:{_FROM_NAMES}|{_SENT_NAMES}|{_OTHER_NAMES})\**\s*[:：]"
)

SIGNATURE_DELIMITER = re.compile(r"^(?:-- ?|--|—)\s*$")
DEVICE_LINE = re.compile(
    r"(?i)^\s*(?:sent from (?:my |the )?|sent with |sent via |sent using |sent on the go|"
    r"get outlook for |download outlook|von meinem .{1,40} gesendet|gesendet (?:von|mit) |"
    r"envoyé (?:de|depuis|avec) |enviado (?:desde|de|do|con|com) |inviato (?:da|dal) |"
    r"verzonden (?:vanaf|met|vanuit) |verstuurd vanaf |skickat från |sendt fra |"
    r"lähetetty (?:iphonesta|.{1,30}(?:sta|stä|lla|llä))\b|отправлено (?:с|из) |"
    r"надіслано (?:з|із) |wysłane z |enviada (?:desde|do) |gönderildi|iphone'umdan|"
    r"được gửi từ |gửi từ |从我的|發自我的|iphoneから送信|sent from yahoo)"
    r".{0,80}$"
)
