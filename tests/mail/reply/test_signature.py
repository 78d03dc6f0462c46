"""Signatures and "Sent from my …" lines go to ``signature``, out of the reply text."""

from __future__ import annotations

import pytest

from mailscanner.mail.reply import extract_reply

DEVICE_LINES = [
    "Sent from my iPhone",
    "Sent from my Galaxy",
    "Sent from Mail for Windows",
    "Get Outlook for Android",
    "Von meinem iPhone gesendet",
    "Envoyé de mon iPad",
    "Enviado desde mi iPhone",
    "Enviado do meu iPhone",
    "Inviato da iPhone",
    "Verzonden vanaf mijn iPhone",
    "Skickat från min iPhone",
    "Sendt fra min iPhone",
    "Lähetetty iPhonesta",
    "Отправлено с iPhone",
    "Надіслано з iPhone",
    "Wysłane z iPhone'a",
    "Được gửi từ iPhone của tôi",
]


@pytest.mark.parametrize("line", DEVICE_LINES)
def test_device_line_is_the_signature(line: str) -> None:
    parts = extract_reply(f"Yes, go ahead.\n\n{line}")
    assert (parts.reply_text, parts.signature) == ("Yes, go ahead.", line)


def test_dash_dash_space_block_is_the_signature_above_the_quote() -> None:
    text = (
        "Fixed, thanks.\n-- \nKim Berg\nACME AB | +46 8 123 45\n\n"
        "On Mon, 4 Mar 2024 at 10:12, Acme <support@example.com> wrote:\n> old"
    )
    parts = extract_reply(text)
    assert parts.reply_text == "Fixed, thanks."
    assert parts.signature == "Kim Berg\nACME AB | +46 8 123 45"
    assert parts.quoted_text.startswith("On Mon, 4 Mar 2024")


def test_sign_off_words_stay_in_the_reply() -> None:
    parts = extract_reply("It works.\n\nBest regards\nKim")
    assert (parts.reply_text, parts.signature) == ("It works.\n\nBest regards\nKim", "")


def test_a_dash_line_early_in_a_long_message_is_not_a_signature() -> None:
    text = "Steps:\n--\n" + "\n".join(f"step {i}" for i in range(20))
    assert extract_reply(text).signature == ""
