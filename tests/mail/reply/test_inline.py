"""Inline answers and answers below the quote keep the customer's words."""

from __future__ import annotations

from mailscanner.mail.reply import extract_reply

ATTR = "On Mon, 4 Mar 2024 at 10:12, Acme Helpdesk <support@example.com> wrote:"


def test_answers_between_quoted_lines_keep_the_whole_message() -> None:
    text = (
        f"{ATTR}\n> Which version do you run?\n2.4.1\n\n> Which operating system?\n"
        "Windows 11, and it also fails on my laptop.\n\n> Kind regards\n> Acme"
    )
    parts = extract_reply(text)
    assert (parts.reply_text, parts.quoted_text, parts.method) == (text, "", "inline")


def test_inline_answers_after_a_greeting_keep_the_whole_message() -> None:
    text = "Hi, answers below.\n\n> Which version?\n2.4.1\n> Which OS?\nLinux\n> Thanks"
    parts = extract_reply(text)
    assert parts.reply_text == text and parts.method == "inline"


def test_a_reply_written_below_the_quote_is_kept_and_the_quote_set_aside() -> None:
    text = f"{ATTR}\n> Does it work now?\n> Acme\n\nYes, it works since this morning.\nKim"
    parts = extract_reply(text)
    assert parts.reply_text == "Yes, it works since this morning.\nKim"
    assert parts.quoted_text == f"{ATTR}\n> Does it work now?\n> Acme"


def test_text_above_and_below_the_quote_are_both_kept() -> None:
    text = f"Short answer: yes.\n\n{ATTR}\n> Does it work?\n\nLonger story: it was the cable."
    parts = extract_reply(text)
    assert parts.reply_text == "Short answer: yes.\n\nLonger story: it was the cable."
