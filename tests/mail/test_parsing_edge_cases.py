"""Broken and unusual messages, family by family: sender fallbacks, charsets, several HTML
parts, MIME structure edge cases and attachments."""

from __future__ import annotations

import base64
import binascii

import pytest

from mailscanner.mail.parsing import Address, parse_email


def msg(head: str, body: str = "hi", encoding: str = "utf-8") -> bytes:
    return (head.rstrip("\n") + "\n\n" + body).replace("\n", "\r\n").encode(encoding)


# -- From fallbacks --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "expected", "source"),
    [
        ("Sender: Kim Berg <kim@kund.example>\nSubject: x", Address("kim@kund.example", "Kim Berg"),
         "Sender"),
        ("Reply-To: kim@kund.example\nSubject: x", Address("kim@kund.example"), "Reply-To"),
        ("Return-Path: <kim@kund.example>\nSubject: x", Address("kim@kund.example"),
         "Return-Path"),
        ("From: Kim Berg <>\nSender: kim@kund.example", Address("kim@kund.example", "Kim Berg"),
         "Sender"),
        ("From: Kim Berg\nReply-To: <kim@kund.example>", Address("kim@kund.example", "Kim Berg"),
         "Reply-To"),
    ],
)
def test_a_missing_or_empty_from_falls_back_to_who_else_sent_it(
    head: str, expected: Address, source: str
) -> None:
    parsed = parse_email(msg(head))
    assert parsed.from_ == expected
    assert f"From without an address; sender taken from {source}" in parsed.defects


def test_the_mbox_envelope_line_names_the_sender_when_nothing_else_does() -> None:
    parsed = parse_email(msg("From kim@kund.example Mon Mar  4 10:12:00 2024\nSubject: x"))
    assert parsed.from_ == Address("kim@kund.example")
    assert parsed.subject == "x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Berg, Kim <kim@kund.example>", Address("kim@kund.example", "Berg, Kim")),
        ("Öberg, Åsa <asa@kund.example>", Address("asa@kund.example", "Öberg, Åsa")),
        ("kim@kund.example (Kim Berg)", Address("kim@kund.example", "Kim Berg")),
        ("Kim <kim@kund.example.>", Address("kim@kund.example", "Kim")),
        ("Åsa Öberg <asa@kund.example>", Address("asa@kund.example", "Åsa Öberg")),
    ],
)
def test_sloppy_from_headers_give_the_right_mailbox(value: str, expected: Address) -> None:
    assert parse_email(msg(f"From: {value}\nSubject: x")).from_ == expected


def test_raw_latin1_display_name_is_decoded() -> None:
    raw = msg("From: Åsa Öberg <asa@kund.example>\nSubject: Hej", encoding="latin-1")
    assert parse_email(raw).from_ == Address("asa@kund.example", "Åsa Öberg")


def test_unquoted_commas_in_a_to_list_keep_every_recipient() -> None:
    raw = msg("From: a@x.example\nTo: Berg, Kim <kim@kund.example>, Lind, Bo <bo@kund.example>")
    assert parse_email(raw).to == (
        Address("kim@kund.example", "Berg, Kim"),
        Address("bo@kund.example", "Lind, Bo"),
    )


@pytest.mark.parametrize(
    "preamble",
    [
        "From kim@kund.example Mon Mar  4 10:12:00 2024\n",
        ">From kim@kund.example Mon Mar  4 10:12:00 2024\n",
        "------------------------------------------------------------\n",
        "\n",
        "==========\n\n",
    ],
)
def test_lines_above_the_headers_are_skipped(preamble: str) -> None:
    parsed = parse_email(msg(preamble + "From: Kim <kim@kund.example>\nSubject: Skrivare", "Hej"))
    assert (parsed.from_, parsed.subject, parsed.text_body) == (
        Address("kim@kund.example", "Kim"),
        "Skrivare",
        "Hej",
    )


def test_an_obsolete_space_before_the_colon_is_a_header_not_an_mbox_line() -> None:
    parsed = parse_email(msg("From : kim@kund.example\nSubject : x"))
    assert (parsed.from_, parsed.subject) == (Address("kim@kund.example"), "x")


# -- charsets ---------------------------------------------------------------------------
RU = "Здравствуйте, у меня не работает принтер на втором этаже. Спасибо!"


@pytest.mark.parametrize("declared", ["", "; charset=iso-8859-1", "; charset=us-ascii"])
def test_windows_1251_text_undeclared_or_labelled_latin1_reads_as_russian(declared: str) -> None:
    raw = msg(f"From: a@x.example\nContent-Type: text/plain{declared}", RU, encoding="cp1251")
    assert parse_email(raw).text_body == RU


def test_latin1_text_labelled_utf8_reads_as_latin1() -> None:
    text = "Hälsningar från Åsa, tack så mycket för hjälpen"
    raw = msg("From: a@x.example\nContent-Type: text/plain; charset=utf-8", text, "latin-1")
    assert parse_email(raw).text_body == text


def test_utf16_declared_body_is_decoded() -> None:
    head = b"From: a@x.example\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n"
    assert parse_email(head + "Hej då".encode("utf-16")).text_body == "Hej då"


def test_several_html_parts_are_all_shown() -> None:
    body = (
        "--b\nContent-Type: text/html\n\n<p>First part</p>\n"
        "--b\nContent-Type: image/png; name=a.png\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"\x89PNG").decode()
        + "\n--b\nContent-Type: text/html; charset=utf-8\n\n<p>Second part</p>\n--b--\n"
    )
    parsed = parse_email(msg("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", body))
    assert parsed.text_body == "First part\n\nSecond part"
    assert "First part" in parsed.html_body and "Second part" in parsed.html_body
    assert [a.filename for a in parsed.attachments] == ["a.png"]


# -- MIME edge cases --------------------------------------------------------------------
def test_missing_blank_line_between_headers_and_body_keeps_the_body() -> None:
    parsed = parse_email(b"From: a@x.example\r\nSubject: x\r\nHello there,\r\nsecond line")
    assert parsed.text_body == "Hello there,\nsecond line"
    assert "missing header/body separator" in parsed.defects


@pytest.mark.parametrize(
    "boundary",
    ["=_" * 60, "----=_NextPart_000_0001_01DA6E1C.4B3A2B10", "a b c", "(weird)+,./:=?", "x" * 200],
)
def test_long_and_unusual_boundaries_split_the_parts(boundary: str) -> None:
    body = (
        f"--{boundary}\nContent-Type: text/plain\n\nthe body\n"
        f"--{boundary}\nContent-Type: application/pdf; name=f.pdf\n\nPDF\n--{boundary}--\n"
    )
    parsed = parse_email(
        msg(f'From: a@x.example\nContent-Type: multipart/mixed; boundary="{boundary}"', body)
    )
    assert parsed.text_body == "the body"
    assert [a.filename for a in parsed.attachments] == ["f.pdf"]


def test_a_repeated_close_boundary_does_not_hide_later_parts() -> None:
    body = (
        "--b\n\nfirst\n--b--\n--b\nContent-Type: application/pdf; name=late.pdf\n\nPDF\n"
        "--b--\n--b--\n"
    )
    parsed = parse_email(msg("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", body))
    assert parsed.text_body == "first"
    assert [a.filename for a in parsed.attachments] == ["late.pdf"]


def test_a_missing_close_boundary_keeps_the_last_part() -> None:
    body = "--b\n\nfirst\n--b\nContent-Type: application/pdf; name=last.pdf\n\nPDF"
    parsed = parse_email(msg("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", body))
    assert [a.filename for a in parsed.attachments] == ["last.pdf"]
    assert "multipart close boundary missing" in parsed.defects


# -- attachments --------------------------------------------------------------------------
def test_uuencoded_block_in_the_body_is_an_attachment() -> None:
    data = b"printer log line 1\nline 2\n"
    block = "begin 644 log.txt\n" + binascii.b2a_uu(data).decode() + "`\nend\n"
    parsed = parse_email(msg("From: a@x.example", f"See the log.\n\n{block}"))
    assert parsed.text_body == "See the log."
    assert [(a.filename, a.payload()) for a in parsed.attachments] == [("log.txt", data)]


def test_attached_messages_and_delivery_status_parts_are_attachments() -> None:
    body = (
        "--b\n\ntext\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n"
        "--b\nContent-Type: message/rfc822\n\nSubject: Original\n\nold\n--b--\n"
    )
    parsed = parse_email(msg("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", body))
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("", "message/delivery-status"),
        ("Original.eml", "message/rfc822"),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_raw_8bit_file_names_are_decoded(encoding: str) -> None:
    body = (
        "--b\nContent-Type: text/plain; charset=" + encoding + "\n\nHär är fakturan.\n"
        '--b\nContent-Type: application/pdf; name="Räkning mars.pdf"\n'
        'Content-Disposition: attachment; filename="Räkning mars.pdf"\n\nPDF\n--b--\n'
    )
    raw = msg("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", body, encoding)
    assert [a.filename for a in parse_email(raw).attachments] == ["Räkning mars.pdf"]
