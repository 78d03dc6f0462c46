"""Embedded originals introduced only by a header block, in several languages."""

from __future__ import annotations

import pytest

from mailscanner.mail.reply import extract_reply

REPLY = "The new password works."
BLOCKS = {
    "en without Sent": "From: Acme Helpdesk <support@example.com>\nTo: Kim <kim@kund.example>"
    "\nSubject: TT1 password",
    "en wrapped From": "From: Acme Helpdesk\n<support@example.com>\nSent: Monday, March 4, 2024"
    " 10:12\nTo: Kim",
    "en value on next line": "From:\nAcme Helpdesk <support@example.com>\nSent:\n4 March 2024",
    "en bold": "*From:* Acme Helpdesk <support@example.com>\n*Sent:* Monday, March 4, 2024",
    "de": "Von: Acme Helpdesk <support@example.com>\nDatum: 4. März 2024 um 10:12\nAn: Kim"
    "\nBetreff: TT1",
    "fr": "De : Acme Helpdesk <support@example.com>\nDate : lundi 4 mars 2024 10:12\nÀ : Kim",
    "no": "Fra: Acme Helpdesk <support@example.com>\nDato: 4. mars 2024 kl. 10:12\nTil: Kim",
    "da": "Fra: Acme Helpdesk <support@example.com>\nSendt: 4. marts 2024 10:12\nTil: Kim"
    "\nEmne: TT1",
    "uk": "Від: Acme Helpdesk <support@example.com>\nНадіслано: 4 березня 2024 р. 10:12\n"
    "Кому: Kim\nТема: TT1",
    "ru": "От: Acme Helpdesk <support@example.com>\nДата: 4 марта 2024 г., 10:12\nКому: Kim",
    "vi": "Từ: Acme Helpdesk <support@example.com>\nGửi: Thứ Hai, 4 tháng 3, 2024 10:12\n"
    "Đến: Kim\nChủ đề: TT1",
    "tr": "Kimden: Acme Helpdesk <support@example.com>\nGönderildi: 4 Mart 2024 Pazartesi 10:12"
    "\nKime: Kim\nKonu: TT1",
    "quoted": "> From: Acme Helpdesk <support@example.com>\n> Sent: Monday, March 4, 2024\n"
    "> To: Kim",
}


@pytest.mark.parametrize("lang", sorted(BLOCKS))
def test_header_block_introduces_the_embedded_original(lang: str) -> None:
    block = BLOCKS[lang]
    parts = extract_reply(f"{REPLY}\n\n{block}\n\nYour new password is in the portal.")
    assert parts.reply_text == REPLY
    assert parts.quoted_text.startswith(block.split("\n")[0])
    assert parts.quoted_text.endswith("Your new password is in the portal.")


def test_one_from_line_in_a_message_is_not_a_header_block() -> None:
    text = "From: the accounting team\nWe need the invoice again, please."
    assert extract_reply(text).method == "none"
