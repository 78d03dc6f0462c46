"""NUL bytes in a body: never shown, and never turning the rest of the text into mojibake.

Dovecot replaces NUL with 0x80 when it hands a message out (an IMAP literal cannot carry
NUL); read as windows-1252 that byte is "€", and the UTF-8 letters around it become pairs.
"""

from __future__ import annotations

import pytest

from mailscanner.mail.parsing import parse_email

from ..fixtures.dovecot import ImapUser

BODY = "Hej, skrivaren på plan två är trasig.\x00Mvh Åsa"
EXPECTED = "Hej, skrivaren på plan två är trasig.Mvh Åsa"


def message(charset: str | None, body: bytes) -> bytes:
    ctype = f"Content-Type: text/plain; charset={charset}\r\n" if charset else ""
    return b"From: asa@kund.example\r\nSubject: nul\r\n" + ctype.encode() + b"\r\n" + body


@pytest.mark.parametrize("charset", ["utf-8", None])
def test_a_nul_byte_is_dropped_from_the_body(charset: str | None) -> None:
    assert parse_email(message(charset, BODY.encode())).text_body == EXPECTED


@pytest.mark.parametrize("charset", ["utf-8", "us-ascii", None])
def test_the_0x80_dovecot_puts_for_a_nul_is_dropped_and_utf8_kept(charset: str | None) -> None:
    raw = message(charset, BODY.encode().replace(b"\x00", b"\x80"))
    assert parse_email(raw).text_body == EXPECTED


def test_a_declared_windows_1252_0x80_is_still_the_euro_sign() -> None:
    raw = message("windows-1252", "Pris: 10 €".encode("cp1252"))
    assert parse_email(raw).text_body == "Pris: 10 €"


def test_one_bad_byte_in_utf8_text_does_not_garble_the_other_letters() -> None:
    raw = message("utf-8", "Grüße aus Köln, schöne Tage\xff!".encode("utf-8", "surrogateescape"))
    raw = raw.replace("\xff".encode(), b"\xff")
    assert parse_email(raw).text_body == "Grüße aus Köln, schöne Tage\ufffd!"


@pytest.mark.integration
def test_a_nul_byte_read_back_from_dovecot_comes_out_as_nothing(imap_user: ImapUser) -> None:
    imap_user.append("INBOX", [message("utf-8", BODY.encode())])
    with imap_user.client() as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
    raw = next(iter(fetched.values()))[b"BODY[]"]
    assert b"\x00" not in raw  # the server's substitution is what this test is about
    assert parse_email(raw).text_body == EXPECTED
