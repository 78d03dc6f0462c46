"""parse_email: header decoding edge cases, laziness, immutability and the read-only protocol."""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import timezone

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
    raw = ("Subject: Счёт на оплату за март\r\nFrom: Бухгалтерия <buh@example.ru>\r\n"
           "Content-Type: text/plain\r\n\r\nx").encode("cp1251")
    parsed = parse_email(raw)
    assert parsed.subject == "Счёт на оплату за март"
    assert parsed.from_ == Address("buh@example.ru", "Бухгалтерия")


def test_addresses_with_commas_in_encoded_names_are_not_split() -> None:
    parsed = parse_email(msg(
        "To: =?utf-8?q?Str=C3=B6m=2C_Eva?= <eva@x.se>, \"Lund, Per\" <per@x.se>\n"
        "Cc: undisclosed-recipients:;\nBcc: hidden@x.se\nReply-To: <reply@x.se>"
    ))
    assert parsed.to == (Address("eva@x.se", "Ström, Eva"), Address("per@x.se", "Lund, Per"))
    assert parsed.cc == ()
    assert parsed.bcc == (Address("hidden@x.se", ""),)
    assert parsed.reply_to == (Address("reply@x.se", ""),)


def test_date_without_zone_is_utc_and_garbage_date_is_a_defect() -> None:
    assert parse_email(msg("Date: 7 Mar 2024 11:00:01 -0000")).date is not None
    parsed = parse_email(msg("Date: 7 Mar 2024 11:00:01 -0000"))
    assert parsed.date is not None and parsed.date.tzinfo == timezone.utc
    bad = parse_email(msg("Date: next tuesday-ish"))
    assert bad.date is None
    assert "unparseable Date header" in bad.defects


def test_message_ids_are_kept_without_angle_brackets() -> None:
    parsed = parse_email(msg(
        "Message-ID: <a@b>\nIn-Reply-To: <c@d> (comment)\nReferences: <x@y>\n <z@w>\nReferences: <late@r>"
    ))
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
    parsed = parse_email(msg("Subject: lazy\nContent-Type: text/plain", "hello"))
    assert "text_body" not in parsed.__dict__ and "_tree" not in parsed.__dict__
    assert parsed.text_body == "hello"
    assert "_tree" in parsed.__dict__


def test_size_is_the_raw_length() -> None:
    raw = msg("Subject: s", "x" * 100)
    assert parse_email(raw).size == len(raw)


def test_cid_images_map_to_their_attachments_and_remote_images_are_removed() -> None:
    raw = msg(
        'Content-Type: multipart/related; boundary="r"',
        "--r\r\nContent-Type: text/html\r\n\r\n<p>Hi<img src=\"cid:logo@x\">"
        "<img src=\"https://tracker.example/p.gif\"><img src=\"//cdn.example/x.png\"></p>\r\n"
        "--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
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
        "--m\r\nContent-Type: text/plain; name=log.txt\r\nContent-Disposition: inline; filename=log.txt\r\n\r\n"
        "log line\r\n--m--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.text_body == "the body"
    assert [(a.filename, a.inline, a.payload()) for a in parsed.attachments] == [("log.txt", False, b"log line")]


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
    head = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(depth))
    raw = msg("Content-Type: multipart/mixed; boundary=b0", head + "--b200\r\n\r\ninner\r\n")
    parsed = parse_email(raw)
    assert "MIME nesting or part count limit reached" in parsed.defects
    assert isinstance(parsed.text_body, str)


def test_protocol_names_exist_with_the_documented_types() -> None:
    parsed = parse_email(msg("From: A <a@x>\nSubject: s"))
    assert isinstance(parsed, ParsedEmail)
    for name in ("subject", "from_", "to", "cc", "bcc", "reply_to", "date", "message_id",
                 "in_reply_to", "references", "headers", "text_body", "html_body", "attachments",
                 "size", "folder", "kind", "kind_reason", "bounce", "defects"):
        getattr(parsed, name)
    assert parsed.kind == "normal" and parsed.kind_reason == "" and parsed.bounce is None
