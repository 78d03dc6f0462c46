"""extract_reply: marker handling, quote detection in 13 languages, HTML quote containers."""

from __future__ import annotations

import pytest

from mailscanner.mail.reply import DEFAULT_MARKER, extract_reply

REPLY = "Thanks, that fixed it.\n\nBest regards\nKim"

# Attribution lines as the common clients write them, one or more per language.
ATTRIBUTIONS = [
    ("en gmail", "On Mon, Mar 4, 2024 at 10:12 AM Acme Helpdesk <support@example.com> wrote:"),
    ("en apple", "On 4 Mar 2024, at 10:12, Acme Helpdesk <support@example.com> wrote:"),
    ("en thunderbird", "On 04/03/2024 10:12, Acme Helpdesk wrote:"),
    ("sv", "Den 4 mars 2024 kl. 10:12 skrev Acme Helpdesk <support@example.com>:"),
    ("sv apple", "4 mars 2024 kl. 10:12 skrev Acme Helpdesk <support@example.com>:"),
    ("fi gmail", "ma 4. maalisk. 2024 klo 10.12 Acme Helpdesk (support@example.com) kirjoitti:"),
    ("fi outlook", "Acme Helpdesk <support@example.com> kirjoitti 4.3.2024 kello 10.12:"),
    ("no", "man. 4. mar. 2024 kl. 10:12 skrev Acme Helpdesk <support@example.com>:"),
    ("da", "Den man. 4. mar. 2024 kl. 10.12 skrev Acme Helpdesk <support@example.com>:"),
    ("de gmail", "Am Mo., 4. März 2024 um 10:12 Uhr schrieb Acme Helpdesk <support@example.com>:"),
    ("de thunderbird", "Am 04.03.24 um 10:12 schrieb Acme Helpdesk:"),
    ("fr", "Le lun. 4 mars 2024 à 10:12, Acme Helpdesk <support@example.com> a écrit :"),
    ("es", "El lun, 4 mar 2024 a las 10:12, Acme Helpdesk (<support@example.com>) escribió:"),
    ("nl", "Op ma 4 mrt 2024 om 10:12 schreef Acme Helpdesk <support@example.com>:"),
    (
        "nl apple",
        "Op 4 mrt. 2024 om 10:12 heeft Acme Helpdesk <support@example.com> het volgende "
        "geschreven:",
    ),
    (
        "it",
        "Il giorno lun 4 mar 2024 alle ore 10:12 Acme Helpdesk <support@example.com> ha scritto:",
    ),
    ("pt", "Em seg., 4 de mar. de 2024 às 10:12, Acme Helpdesk <support@example.com> escreveu:"),
    ("pl gmail", "pon., 4 mar 2024 o 10:12 Acme Helpdesk <support@example.com> napisał(a):"),
    ("pl", "W dniu 4.03.2024 o 10:12, Acme Helpdesk pisze:"),
    ("ru gmail", "пн, 4 мар. 2024 г. в 10:12, Acme Helpdesk <support@example.com>:"),
    ("ru", "4 марта 2024 г., в 10:12, Acme Helpdesk <support@example.com> написал:"),
]


@pytest.mark.parametrize(("lang", "line"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_attribution_line_starts_the_quote(lang: str, line: str) -> None:
    text = f"{REPLY}\n\n{line}\n> Please restart the router.\n>\n"
    parts = extract_reply(text)
    assert parts.reply_text == REPLY
    assert parts.quoted_text == f"{line}\n> Please restart the router.\n>"
    assert (parts.method, parts.found_marker) == ("attribution", False)


@pytest.mark.parametrize(("lang", "line"), ATTRIBUTIONS, ids=[a[0] for a in ATTRIBUTIONS])
def test_attribution_above_our_quoted_marker_is_trimmed(lang: str, line: str) -> None:
    text = f"{REPLY}\n\n{line}\n\n> {DEFAULT_MARKER}\n>\n> Ticket TT1 updated.\n"
    parts = extract_reply(text)
    assert parts.reply_text == REPLY
    assert parts.quoted_text.startswith(line)
    assert parts.found_marker and parts.method == "marker"


# Outlook's header block above the quoted original, per language (From / Sent / To / Subject).
OUTLOOK_BLOCKS = [
    (
        "en",
        "\n".join(
            [
                "From: Acme Helpdesk <support@example.com>",
                "Sent: Monday, March 4, 2024 10:12 AM",
                "To: Kim",
                "Subject: TT1",
            ]
        ),
    ),
    (
        "sv",
        "\n".join(
            [
                "Från: Acme Helpdesk <support@example.com>",
                "Skickat: den 4 mars 2024 10:12",
                "Till: Kim",
                "Ämne: TT1",
            ]
        ),
    ),
    (
        "de",
        "\n".join(
            [
                "Von: Acme Helpdesk <support@example.com>",
                "Gesendet: Montag, 4. März 2024 10:12",
                "An: Kim",
                "Betreff: TT1",
            ]
        ),
    ),
    (
        "fr",
        "\n".join(
            [
                "De : Acme Helpdesk <support@example.com>",
                "Envoyé : lundi 4 mars 2024 10:12",
                "À : Kim",
                "Objet : TT1",
            ]
        ),
    ),
    (
        "fi",
        "\n".join(
            [
                "Lähettäjä: Acme Helpdesk <support@example.com>",
                "Lähetetty: maanantai 4. maaliskuuta 2024 10.12",
                "Vastaanottaja: Kim",
                "Aihe: TT1",
            ]
        ),
    ),
    (
        "no",
        "\n".join(
            [
                "Fra: Acme Helpdesk <support@example.com>",
                "Sendt: mandag 4. mars 2024 10:12",
                "Til: Kim",
                "Emne: TT1",
            ]
        ),
    ),
    (
        "nl",
        "\n".join(
            [
                "Van: Acme Helpdesk <support@example.com>",
                "Verzonden: maandag 4 maart 2024 10:12",
                "Aan: Kim",
                "Onderwerp: TT1",
            ]
        ),
    ),
    (
        "it",
        "\n".join(
            [
                "Da: Acme Helpdesk <support@example.com>",
                "Inviato: lunedì 4 marzo 2024 10:12",
                "A: Kim",
                "Oggetto: TT1",
            ]
        ),
    ),
    (
        "es",
        "\n".join(
            [
                "De: Acme Helpdesk <support@example.com>",
                "Enviado: lunes, 4 de marzo de 2024 10:12",
                "Para: Kim",
                "Asunto: TT1",
            ]
        ),
    ),
    (
        "pt",
        "\n".join(
            [
                "De: Acme Helpdesk <support@example.com>",
                "Enviado: segunda-feira, 4 de março de 2024 10:12",
                "Para: Kim",
                "Assunto: TT1",
            ]
        ),
    ),
    (
        "pl",
        "\n".join(
            [
                "Od: Acme Helpdesk <support@example.com>",
                "Wysłano: poniedziałek, 4 marca 2024 10:12",
                "Do: Kim",
                "Temat: TT1",
            ]
        ),
    ),
    (
        "ru",
        "\n".join(
            [
                "От: Acme Helpdesk <support@example.com>",
                "Отправлено: 4 марта 2024 г. 10:12",
                "Кому: Kim",
                "Тема: TT1",
            ]
        ),
    ),
    (
        "owa",
        "\n".join(
            [
                "________________________________",
                "From: Acme Helpdesk <support@example.com>",
                "Sent: Monday, March 4, 2024 10:12",
                "To: Kim",
            ]
        ),
    ),
]


@pytest.mark.parametrize(("lang", "block"), OUTLOOK_BLOCKS, ids=[b[0] for b in OUTLOOK_BLOCKS])
def test_outlook_header_block_starts_the_quote(lang: str, block: str) -> None:
    parts = extract_reply(f"{REPLY}\n\n{block}\n\nOriginal text.")
    assert parts.reply_text == REPLY
    assert parts.quoted_text == f"{block}\n\nOriginal text."
    assert parts.method == "outlook_header"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Originalmeddelande-----",
        "-------- Message d'origine --------",
        "-------- Mensaje original --------",
        "-----Oorspronkelijk bericht-----",
        "-----Messaggio originale-----",
        "-----Исходное сообщение-----",
        "-----Wiadomość oryginalna-----",
        "-----Alkuperäinen viesti-----",
    ],
)
def test_original_message_separator_starts_the_quote(separator: str) -> None:
    parts = extract_reply(f"{REPLY}\n\n{separator}\nold text")
    assert (parts.reply_text, parts.quoted_text, parts.method) == (
        REPLY,
        f"{separator}\nold text",
        "original_message",
    )


def test_marker_wrapped_by_the_client_and_quoted_is_found() -> None:
    text = "Yes.\n\n> ##- Please type your reply\n> above this line -##\n> old"
    parts = extract_reply(text)
    assert (parts.reply_text, parts.found_marker) == ("Yes.", True)
    assert parts.quoted_text == "> ##- Please type your reply\n> above this line -##\n> old"


def test_custom_marker_is_honoured_and_default_is_then_ignored() -> None:
    text = f"Svar.\n\n--- Svara ovanför denna rad ---\n{DEFAULT_MARKER}\nold"
    parts = extract_reply(text, marker="--- Svara ovanför denna rad ---")
    assert (parts.reply_text, parts.method) == ("Svar.", "marker")


def test_signature_above_the_marker_goes_to_its_own_field() -> None:
    text = f"Fixed.\n-- \nKim, ACME\n\n{DEFAULT_MARKER}\nold"
    parts = extract_reply(text)
    assert (parts.reply_text, parts.signature, parts.method) == ("Fixed.", "Kim, ACME", "marker")


def test_quoted_tail_and_signature_are_cut_without_marker() -> None:
    assert extract_reply("ok\n\n> earlier\n> text\n").method == "quote_prefix"
    parts = extract_reply("See you.\n-- \nKim\nPhone 123")
    assert (parts.reply_text, parts.quoted_text, parts.signature, parts.method) == (
        "See you.",
        "",
        "Kim\nPhone 123",
        "signature",
    )


def test_inline_answers_between_quotes_are_not_cut_at_the_first_quote() -> None:
    text = "> Which version?\n2.4\n> Which OS?\nLinux"
    parts = extract_reply(text)
    assert (parts.reply_text, parts.method) == (text, "none")


def test_sentence_mentioning_wrote_is_not_an_attribution() -> None:
    text = "I wrote to you last week about this problem:\nthe printer still fails."
    assert extract_reply(text).method == "none"


def test_gmail_html_quote_container_is_cut() -> None:
    html = (
        '<div dir="ltr">Works now, thanks!</div><br>'
        '<div class="gmail_quote"><div class="gmail_attr">'
        "On Mon, Mar 4, 2024 at 10:12 AM Acme &lt;s@x.com&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Please restart it.</blockquote></div>'
    )
    parts = extract_reply("", html)
    assert parts.reply_text == "Works now, thanks!"
    assert (
        parts.quoted_text
        == "On Mon, Mar 4, 2024 at 10:12 AM Acme <s@x.com> wrote:\nPlease restart it."
    )
    assert parts.method == "html_quote"


def test_apple_blockquote_type_cite_is_cut_with_its_attribution() -> None:
    html = (
        "<div>Sure, go ahead.</div><div><br>"
        "<div>On 4 Mar 2024, at 10:12, Acme &lt;s@x.com&gt; wrote:</div>"
        '<br><blockquote type="cite"><div>Shall we?</div></blockquote></div>'
    )
    parts = extract_reply("", html)
    assert parts.reply_text == "Sure, go ahead."
    assert parts.quoted_text.startswith("On 4 Mar 2024, at 10:12, Acme <s@x.com> wrote:")
    assert parts.quoted_text.endswith("Shall we?")


def test_outlook_web_appendonsend_is_cut() -> None:
    html = (
        '<div>Done.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Acme'
        "<br><b>Sent:</b> Monday</div><div>Original</div>"
    )
    parts = extract_reply("", html)
    assert parts.reply_text == "Done."
    assert "Original" in parts.quoted_text and parts.method == "html_quote"


def test_html_marker_inside_blockquote_wins_over_containers() -> None:
    html = (
        '<p>Yes please.</p><blockquote type="cite"><p>On Mon, Acme wrote:</p>'
        f"<p>{DEFAULT_MARKER}</p>"
        "<p>old</p></blockquote>"
    )
    parts = extract_reply("", html)
    assert (parts.reply_text, parts.found_marker) == ("Yes please.", True)


def test_no_quote_returns_everything_and_nothing_cut() -> None:
    parts = extract_reply("Just a question: does it work on Linux?")
    assert (parts.reply_text, parts.quoted_text, parts.found_marker, parts.method) == (
        "Just a question: does it work on Linux?",
        "",
        False,
        "none",
    )


def test_garbage_html_does_not_raise() -> None:
    for html in ("<", "<<<>>>", "\x00\x01", "<html><body></body></html>", "<!--", "&#0;"):
        assert isinstance(extract_reply("", html).reply_text, str)
