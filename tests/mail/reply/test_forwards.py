"""A forwarded message is the customer's content, never a quote to cut."""

from __future__ import annotations

import pytest

from mailscanner.mail.reply import extract_reply

ORIGINAL = (
    "From: Supplier <orders@supplier.example>\nDate: Mon, 4 Mar 2024 at 10:12\n"
    "Subject: Invoice 42\nTo: Kim <kim@kund.example>\n\nPlease pay invoice 42 by Friday."
)
MARKERS = [
    "---------- Forwarded message ---------",
    "Begin forwarded message:",
    "-------- Weitergeleitete Nachricht --------",
    "Anfang der weitergeleiteten Nachricht:",
    "-------- Message transféré --------",
    "Début du message réexpédié :",
    "---------- Vidarebefordrat meddelande ----------",
    "---------- Videresendt melding ----------",
    "-------- Пересылаемое сообщение --------",
    "-------- Переслане повідомлення --------",
    "---------- Tin nhắn đã chuyển tiếp ---------",
    "-------- Mensaje reenviado --------",
]


@pytest.mark.parametrize("marker", MARKERS)
def test_forwarded_message_stays_in_the_reply(marker: str) -> None:
    text = f"Can you check this invoice?\n\n{marker}\n{ORIGINAL}"
    parts = extract_reply(text)
    assert (parts.reply_text, parts.quoted_text) == (text, "")


@pytest.mark.parametrize(
    "separator",
    ["-----Original Message-----\n", "________________________________\n"],
)
def test_an_outlook_forward_keeps_its_embedded_original(separator: str) -> None:
    # Outlook forwards with the same separator/header block it uses for replies: the
    # subject ("FW:", "WG:", "VB:") is what tells them apart.
    block = "From: Supplier <orders@supplier.example>\nSent: Monday, March 4, 2024 10:12 AM\n"
    text = f"See below.\n\n{separator}{block}Subject: Invoice 42\n\nPlease pay."
    for subject in ("FW: Invoice 42", "WG: Invoice 42", "VB: Invoice 42", "Fwd: Invoice 42"):
        assert extract_reply(text, subject=subject).reply_text == text
    assert extract_reply(text, subject="RE: Invoice 42").reply_text == "See below."


def test_a_reply_quoting_a_forward_is_still_cut_at_its_attribution() -> None:
    text = (
        "Paid, thanks.\n\nOn Mon, 4 Mar 2024 at 10:12, Kim <kim@kund.example> wrote:\n"
        "> ---------- Forwarded message ---------\n> Please pay."
    )
    assert extract_reply(text).reply_text == "Paid, thanks."
