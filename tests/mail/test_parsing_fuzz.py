"""Hypothesis: no input makes parse_email, any lazy property, extract_reply or inspect raise."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailscanner.cli.inspect import to_json_dict
from mailscanner.mail.attachments import UndecodablePart
from mailscanner.mail.html_nesting import bound_nesting
from mailscanner.mail.parsing import ParsedEmail, parse_email
from mailscanner.mail.reply import extract_reply
from mailscanner.rules_dsl import compile as compile_rule
from mailscanner.rules_dsl import parse as parse_rule

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.eml"))
SEEDS = [p.read_bytes() for p in FIXTURES]
FUZZ = settings(
    max_examples=int(os.environ.get("MAIL_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class _Errors(logging.Handler):
    """Collects ERROR logs: the parser's last-resort handlers log there, and the fuzz test
    must prove they are never needed (a swallowed bug is still a bug)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def touch_everything(parsed: ParsedEmail) -> None:
    """Read every public name, as the scanner and inspect would; no fallback may fire."""
    handler = _Errors()
    logger = logging.getLogger("mailscanner.mail")
    logger.addHandler(handler)
    try:
        _touch(parsed)
    finally:
        logger.removeHandler(handler)
    assert not any(d.startswith("parser error") for d in parsed.defects)
    assert [r.getMessage() for r in handler.records] == []


def _touch(parsed: ParsedEmail) -> None:
    assert isinstance(parsed.subject, str)
    for name in (
        "from_",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "date",
        "message_id",
        "in_reply_to",
        "references",
        "size",
        "folder",
        "kind",
        "kind_reason",
        "bounce",
        "delivery_report",
        "feedback",
        "defects",
    ):
        getattr(parsed, name)
    assert all(isinstance(v, str) for _, v in parsed.headers)
    parsed.header("subject")
    assert isinstance(parsed.text_body, str) and isinstance(parsed.html_body, str)
    for att in parsed.attachments:
        if att.undecodable:  # listed as skipped (UNDECODABLE); reading it says why
            with pytest.raises(UndecodablePart):
                att.payload()
        else:
            assert att.size == len(att.payload())
        assert len(att.sha256) == 64
    assert isinstance(parsed.inline_images, dict)
    parsed.with_folder("INBOX")
    json.dumps(to_json_dict(parsed))
    extract_reply(parsed.text_body, parsed.html_body, subject=parsed.subject)
    assert compile_rule(parse_rule('kind is any of ["bounce", "feedback"]'))(parsed) in (
        True,
        False,
    )


def mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, length, junk in ops:
        if not buf:
            buf.extend(junk)
            continue
        pos %= len(buf)
        if kind == 0:  # overwrite
            buf[pos : pos + len(junk)] = junk
        elif kind == 1:  # delete
            del buf[pos : pos + length]
        elif kind == 2:  # insert
            buf[pos:pos] = junk
        elif kind == 3:  # duplicate a slice (repeated boundaries, headers)
            buf[pos:pos] = buf[pos : pos + length]
        else:  # truncate
            del buf[pos:]
    return bytes(buf)


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    touch_everything(parse_email(raw))


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.integers(0, 1 << 20),
            st.integers(0, 400),
            st.binary(min_size=1, max_size=40),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_mutated_real_mails_never_raise(
    seed: bytes, ops: list[tuple[int, int, int, bytes]]
) -> None:
    touch_everything(parse_email(mutate(seed, ops)))


_TOKENS = st.sampled_from(
    [
        "Subject: ",
        "From: ",
        "To: ",
        "Content-Type: multipart/mixed; boundary=b\n",
        'Content-Type: multipart/alternative; boundary="c"\n',
        "Content-Type: text/html\n",
        "Content-Type: message/rfc822\n",
        "Content-Transfer-Encoding: base64\n",
        "Content-Transfer-Encoding: quoted-printable\n",
        "Content-Transfer-Encoding: x-uuencode\n",
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%ZZ\n",
        "--b\n",
        "--b--\n",
        "--c\n",
        "=?utf-8?b?w6U=?=",
        "=?utf-8?q?=ZZ?=",
        "=?bogus?x?y?=",
        "\n",
        "\n\n",
        " ",
        "\t",
        ":",
        "<",
        ">",
        "begin 644 f.txt\n",
        "end\n",
        "M86)C\n",
        "=\n",
        "=E5",
        "\x00",
        "\xff",
        "<script>",
        "<blockquote type=cite>",
        "On Mon, 4 Mar 2024 Kim <k@x> wrote:\n",
        "> ",
        "##- Please type your reply above this line -##",
        # automated-mail and reply shapes added with the second pass
        "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n",
        "Content-Type: message/feedback-report\n",
        "Content-Type: message/delivery-status\n",
        "Content-Type: application/ms-tnef; name=winmail.dat\n",
        "Feedback-Type: abuse\n",
        "Original-Rcpt-To: <a@b.example>\n",
        "Final-Recipient: rfc822; x@y.example\n",
        "Action: delivered\n",
        "Action: failed\n",
        "Status: 5.1.1\n",
        "X-Failed-Recipients: a@b.example\n",
        "X-MLServer: fml\n",
        "From: MAILER-DAEMON <>\n",
        "From: AWS <no-reply@sns.amazonaws.com>\n",
        '{"notificationType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": 1}]},',
        ' "mail": {"commonHeaders": {"messageId": null}}}',
        '{"Type": "Notification", "Message": "{\\"notificationType\\": \\"Delivery\\"}"}',
        "Subject: Mail delivery failed\n",
        "550 5.1.1 <a@b.example>: user unknown\n",
        "Original mail as follows:\n",
        "---------- Forwarded message ---------\n",
        "From: Acme <a@b.example>\nSent: Monday\nTo: Kim\n",
        "Sent from my iPhone",
        "-- \n",
        "<div>",
        "</div>",
        "<b id=x>",
        "<blockquote>",
        "04.03.2024, 10:12, Acme <a@b.example>:\n",
        'hr id="stopSpelling">',
        "------------------------------\n",
        "From kim@x Mon Mar  4 10:12:00 2024\n",
        "\x80",
    ]
)


@FUZZ
@given(st.lists(st.one_of(_TOKENS, st.text(max_size=20)), max_size=80))
def test_mime_like_token_soup_never_raises(tokens: list[str]) -> None:
    touch_everything(parse_email("".join(tokens).encode("utf-8", "surrogatepass")))


@FUZZ
@given(st.text(max_size=2000), st.one_of(st.none(), st.text(max_size=2000)), st.text(max_size=60))
def test_extract_reply_never_raises(text: str, html: str | None, marker: str) -> None:
    parts = extract_reply(text, html, marker=marker)
    assert isinstance(parts.reply_text, str) and isinstance(parts.quoted_text, str)


_HTML = st.lists(
    st.sampled_from(
        [
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<b>",
            "</b>",
            "<font x=1>",
            "<br>",
            "<br/>",
            "<script>",
            "</script>",
            "<blockquote>",
            "</blockquote>",
            "<a",
            ">",
            "<",
            "text",
            " ",
        ]
    ),
    max_size=400,
)


@FUZZ
@given(_HTML, st.integers(1, 50))
def test_bounding_html_nesting_never_raises_and_only_removes(tokens: list[str], limit: int) -> None:
    html = "".join(tokens)
    bounded = bound_nesting(html, limit)
    rest = iter(html)
    assert all(ch in rest for ch in bounded)  # only deletions: nothing added or reordered
    if html.count("<") <= limit:
        assert bounded == html
