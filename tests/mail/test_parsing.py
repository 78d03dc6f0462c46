"""parse_email: header decoding edge cases, laziness, immutability and the read-only protocol."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC

import pytest

from mailscanner.mail.parsing import Address, ParsedEmail, parse_email


def msg(headers: str, body: str = "body", sep: str = "\r\n") -> bytes:
    return (headers.strip("\n").replace("\n", sep) + sep + sep + body).encode("utf-8")


def test_multi_byte_character_split_across_encoded_words_is_rejoined() -> None:
    # "å" (c3 a5) split between two adjacent encoded words, as some encoders do.
    parsed = parse_email(msg("Subject: =?utf-8?q?Hej_d=C3?= =?utf-8?q?=A5?="))
    assert parsed.subject == "Hej då"


def test_whitespace_between_encoded_and_plain_words_is_kept() -> None:
    parsed = parse_email(msg("Subject: Re: =?iso-8859-1?q?V=E4xel?= fungerar inte"))
    assert parsed.subject == "Re: Växel fungerar inte"


def test_encoded_word_with_unknown_charset_is_detected() -> None:
    parsed = parse_email(msg("Subject: =?x-unknown?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?="))
    assert parsed.subject == "Grüße aus München"


def test_gb2312_label_decodes_gbk_characters() -> None:
    # "镕" is in GBK but not in GB2312; Chinese mailers label GBK text as gb2312.
    import base64

    word = base64.b64encode("朱镕基".encode("gbk")).decode()
    parsed = parse_email(msg(f"Subject: =?gb2312?b?{word}?="))
    assert parsed.subject == "朱镕基"


def test_bad_base64_encoded_word_does_not_raise() -> None:
    parsed = parse_email(msg("Subject: =?utf-8?b?SGVsbG8?= world"))
    assert parsed.subject == "Hello world"


def test_raw_windows_1251_subject_is_detected_from_all_8bit_headers() -> None:
    raw = (
        "Subject: Счёт на оплату за март\r\nFrom: Бухгалтерия <buh@example.ru>\r\n"
        "Content-Type: text/plain\r\n\r\nx"
    ).encode("cp1251")
    parsed = parse_email(raw)
    assert parsed.subject == "Счёт на оплату за март"
    assert parsed.from_ == Address("buh@example.ru", "Бухгалтерия")


def test_addresses_with_commas_in_encoded_names_are_not_split() -> None:
    parsed = parse_email(
        msg(
            'To: =?utf-8?q?Str=C3=B6m=2C_Eva?= <eva@x.se>, "Lund, Per" <per@x.se>\n'
            "Cc: undisclosed-recipients:;\nBcc: hidden@x.se\nReply-To: <reply@x.se>"
        )
    )
    assert parsed.to == (Address("eva@x.se", "Ström, Eva"), Address("per@x.se", "Lund, Per"))
    assert parsed.cc == ()
    assert parsed.bcc == (Address("hidden@x.se", ""),)
    assert parsed.reply_to == (Address("reply@x.se", ""),)


def test_date_without_zone_is_utc_and_garbage_date_is_a_defect() -> None:
    assert parse_email(msg("Date: 7 Mar 2024 11:00:01 -0000")).date is not None
    parsed = parse_email(msg("Date: 7 Mar 2024 11:00:01 -0000"))
    assert parsed.date is not None and parsed.date.tzinfo == UTC
    bad = parse_email(msg("Date: next tuesday-ish"))
    assert bad.date is None
    assert "unparseable Date header" in bad.defects


def test_message_ids_are_kept_without_angle_brackets() -> None:
    parsed = parse_email(
        msg(
            "Message-ID: <a@b>\nIn-Reply-To: <c@d> (comment)\n"
            "References: <x@y>\n <z@w>\nReferences: <late@r>"
        )
    )
    assert parsed.message_id == "a@b"
    assert parsed.in_reply_to == "c@d"
    assert parsed.references == ("x@y", "z@w", "late@r")


def test_header_lookup_is_case_insensitive_decoded_and_multi_valued() -> None:
    parsed = parse_email(msg("Received: one\nreceived: two\nX-Note: =?utf-8?q?f=C3=B6r?=\n long"))
    assert parsed.header("RECEIVED") == ("one", "two")
    assert parsed.header("x-note") == ("för long",)
    assert parsed.header("missing") == ()
    assert ("X-Note", "för long") in parsed.headers


def test_parsed_email_is_immutable_and_with_folder_returns_a_copy() -> None:
    parsed = parse_email(msg("Subject: s"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.subject = "x"  # type: ignore[misc]
    moved = parsed.with_folder("INBOX/Support")
    assert (moved.folder, parsed.folder) == ("INBOX/Support", "")
    assert moved.subject == "s" and moved.text_body == "body"
    replaced = dataclasses.replace(parsed, folder="Archive")
    assert replaced.folder == "Archive" and replaced.text_body == "body"


def test_bodies_are_not_decoded_until_asked() -> None:
    parsed = parse_email(msg("Subject: lazy\nContent-Type: text/plain\nX-One: 1", "hello"))
    assert parsed.header("x-one") == ("1",)
    assert not {"text_body", "_tree", "headers"} & set(parsed.__dict__)
    assert parsed.text_body == "hello"
    assert "_tree" in parsed.__dict__


def test_size_is_the_raw_length() -> None:
    raw = msg("Subject: s", "x" * 100)
    assert parse_email(raw).size == len(raw)


def test_cid_images_map_to_their_attachments_and_remote_images_are_removed() -> None:
    raw = msg(
        'Content-Type: multipart/related; boundary="r"',
        '--r\r\nContent-Type: text/html\r\n\r\n<p>Hi<img src="cid:logo@x">'
        '<img src="https://tracker.example/p.gif"><img src="//cdn.example/x.png"></p>\r\n'
        "--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "aGVsbG8=\r\n--r--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.html_body == '<p>Hi<img src="cid:logo@x"><img><img></p>'
    image = parsed.inline_images["logo@x"]
    assert image.inline and image.payload() == b"hello"
    assert image.sha256 == hashlib.sha256(b"hello").hexdigest() and image.size == 5
    assert parsed.text_body == "Hi"


def test_text_plain_attachment_with_filename_is_not_body() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="m"',
        "--m\r\nContent-Type: text/plain\r\n\r\nthe body\r\n"
        "--m\r\nContent-Type: text/plain; name=log.txt\r\n"
        "Content-Disposition: inline; filename=log.txt\r\n\r\n"
        "log line\r\n--m--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.text_body == "the body"
    assert [(a.filename, a.inline, a.payload()) for a in parsed.attachments] == [
        ("log.txt", False, b"log line")
    ]


def test_inline_text_parts_around_an_image_are_joined() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="m"',
        "--m\r\nContent-Type: text/plain\r\n\r\nbefore\r\n"
        "--m\r\nContent-Type: image/gif\r\nContent-Disposition: inline\r\n\r\nGIF89a\r\n"
        "--m\r\nContent-Type: text/plain\r\n\r\nafter\r\n--m--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.text_body == "before\nafter"
    assert [a.inline for a in parsed.attachments] == [True]


def test_empty_input_and_headers_only_input() -> None:
    empty = parse_email(b"")
    assert (empty.subject, empty.from_, empty.text_body, empty.attachments) == ("", None, "", ())
    assert "no headers" in empty.defects
    only = parse_email(b"Subject: only headers")
    assert only.subject == "only headers" and only.text_body == ""


def test_huge_text_body_is_capped() -> None:
    from mailscanner.mail.bodies import MAX_TEXT_CHARS

    parsed = parse_email(msg("Content-Type: text/plain", "word " * 400_000))
    assert len(parsed.text_body) <= MAX_TEXT_CHARS
    assert "text body truncated" in parsed.defects or "text part truncated" in parsed.defects


def test_deeply_nested_multiparts_stop_at_the_depth_limit() -> None:
    depth = 200
    head = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(depth)
    )
    raw = msg("Content-Type: multipart/mixed; boundary=b0", head + "--b200\r\n\r\ninner\r\n")
    parsed = parse_email(raw)
    assert "MIME nesting or part count limit reached" in parsed.defects
    assert isinstance(parsed.text_body, str)


def test_protocol_names_exist_with_the_documented_types() -> None:
    parsed = parse_email(msg("From: A <a@x>\nSubject: s"))
    assert isinstance(parsed, ParsedEmail)
    for name in (
        "subject",
        "from_",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "date",
        "message_id",
        "in_reply_to",
        "references",
        "headers",
        "text_body",
        "html_body",
        "attachments",
        "size",
        "folder",
        "kind",
        "kind_reason",
        "bounce",
        "defects",
    ):
        getattr(parsed, name)
    assert parsed.kind == "normal" and parsed.kind_reason == "" and parsed.bounce is None


def test_format_flowed_text_is_unwrapped() -> None:
    raw = msg(
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
        "This line was soft \r\nwrapped by Thunderbird.\r\n"
        "> quoted and \r\n> wrapped\r\n-- \r\nsig",
    )
    assert parse_email(raw).text_body == (
        "This line was soft wrapped by Thunderbird.\n> quoted and wrapped\n-- \nsig"
    )


def test_classic_mac_line_endings_are_read() -> None:
    parsed = parse_email(b"Subject: old mac\rFrom: a@b.example\r\rline one\rline two")
    assert (parsed.subject, parsed.text_body) == ("old mac", "line one\nline two")


def test_raw_iso_2022_jp_header_without_encoded_words() -> None:
    raw = b"Subject: " + "件名のテスト".encode("iso-2022-jp") + b"\r\n\r\nx"
    assert parse_email(raw).subject == "件名のテスト"


def test_boundary_that_prefixes_the_inner_boundary_is_not_confused() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="b"',
        "preamble\r\n--b\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
        "--b2\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b2\r\nContent-Type: text/html\r\n\r\n"
        "<p>html</p>\r\n--b2--\r\n--b\r\nContent-Type: application/zip; name=a.zip\r\n\r\nPK\r\n"
        "--b--\r\nepilogue --b\r\n",
    )
    parsed = parse_email(raw)
    assert (parsed.text_body, parsed.html_body) == ("plain", "<p>html</p>")
    assert [(a.filename, a.payload()) for a in parsed.attachments] == [("a.zip", b"PK")]
    assert parsed.defects == ()


def test_winmail_dat_stays_an_attachment_and_its_inner_files_are_unpacked() -> None:
    from pathlib import Path

    raw = (Path(__file__).parent / "fixtures" / "outlook_desktop_sv_winmail.eml").read_bytes()
    winmail, *unpacked = parse_email(raw).attachments
    assert (winmail.filename, winmail.content_type) == ("winmail.dat", "application/ms-tnef")
    expected = [
        ("felmeddelande.png", "image/png", bytes(range(256)) * 4),
        ("Logg för maj.txt", "text/plain", b"rad 1\nrad 2\n"),
    ]
    assert [(f.filename, f.content_type, f.payload()) for f in winmail.tnef_files()] == expected
    assert [(f.filename, f.content_type, f.payload()) for f in unpacked] == expected


def test_damaged_winmail_dat_lists_nothing_instead_of_raising() -> None:
    raw = msg(
        'Content-Type: multipart/mixed; boundary="m"',
        "--m\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\neJ8+IgAAAAAA\r\n--m--\r\n",
    )
    (winmail,) = parse_email(raw).attachments
    assert winmail.filename == "winmail.dat" and winmail.size == 9
    assert winmail.tnef_files() == ()


def test_named_inline_text_parts_are_the_body_when_nothing_else_is() -> None:
    # Some mailers (here XEmacs VM) give every part a file name; clients show them inline.
    part = (
        "--h\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename=msg.txt\r\n\r\n"
        "a simple kind of mirror\r\n"
    )
    raw = msg('Content-Type: multipart/mixed; boundary="h"', part + "--h--\r\n")
    parsed = parse_email(raw)
    assert (parsed.text_body, parsed.attachments) == ("a simple kind of mirror", ())


def test_bytearray_memoryview_str_and_none_are_accepted() -> None:
    raw = b"Subject: s\r\n\r\nbody"
    for value in (bytearray(raw), memoryview(raw), raw.decode()):
        assert parse_email(value).text_body == "body"  # type: ignore[arg-type]
    assert parse_email(None).subject == ""  # type: ignore[arg-type]


UNDECLARED = [
    ("gb2312", "关于发票的问题", "李明", "您好，上个月的发票还没有收到，请尽快处理。谢谢！"),
    ("big5", "關於發票的問題", "李明", "您好，上個月的發票還沒有收到，請盡快處理。謝謝！"),
    (
        "euc-jp",
        "請求書について",
        "山田太郎",
        "お世話になっております。先月の請求書が届いておりません。",
    ),
    (
        "shift_jis",
        "請求書について",
        "山田太郎",
        "お世話になっております。先月の請求書が届いておりません。",
    ),
    ("euc-kr", "송장 문제에 관하여", "김철수", "안녕하세요, 지난달 송장을 아직 받지 못했습니다."),
    (
        "cp1253",
        "Ερώτηση για το τιμολόγιο",
        "Γιώργος",
        "Καλημέρα, δεν έχω λάβει ακόμα το τιμολόγιο.",
    ),
    ("cp1251", "Вопрос по счёту", "Иван", "Добрый день, я не получил счёт за прошлый месяц."),
    (
        "cp1252",
        "Fråga om fakturan",
        "Åsa Öberg",
        "Hej, jag har inte fått fakturan för förra månaden.",
    ),
]


@pytest.mark.parametrize(("charset", "subject", "name", "body"), UNDECLARED)
def test_undeclared_legacy_charset_in_headers_and_body_is_detected(
    charset: str, subject: str, name: str, body: str
) -> None:
    raw = (
        b"From: "
        + name.encode(charset)
        + b" <x@example.com>\r\nSubject: "
        + subject.encode(charset)
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + body.encode(charset)
    )
    parsed = parse_email(raw)
    assert (parsed.subject, parsed.from_, parsed.text_body) == (
        subject,
        Address("x@example.com", name),
        body,
    )
