"""Streaming transfer decoders agree with the stdlib on valid input, across chunk borders."""

from __future__ import annotations

import base64
import binascii
import quopri

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailscanner.mail import transfer
from mailscanner.mail.transfer import iter_decoded, uudecode


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # 7-byte windows put chunk borders inside base64 quanta and QP escapes.
    monkeypatch.setattr(transfer, "CHUNK", 7)


def decode(body: bytes, cte: str) -> bytes:
    return b"".join(iter_decoded(b"xx" + body + b"yy", 2, 2 + len(body), cte))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([b"\n", b"\r\n"]))
def test_base64_matches_stdlib(data: bytes, newline: bytes) -> None:
    assert decode(base64.encodebytes(data).replace(b"\n", newline), "base64") == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_quoted_printable_matches_stdlib(data: bytes) -> None:
    encoded = quopri.encodestring(data)
    assert decode(encoded, "quoted-printable") == quopri.decodestring(encoded)


def test_base64_with_junk_and_missing_padding_is_decoded_best_effort() -> None:
    defects: list[str] = []
    body = b"aGVs!!bG8g\r\nd29y bGQ"  # "hello world" without padding, with junk
    out = b"".join(iter_decoded(body, 0, len(body), "base64", defects))
    assert out == b"hello world" and defects == []
    out = b"".join(iter_decoded(b"aGVsbG8x", 0, 5, "base64", defects))
    assert out == b"hel" and defects == ["invalid base64 length"]


def test_identity_encodings_pass_bytes_through() -> None:
    for cte in ("", "7bit", "8bit", "binary", "x-unknown"):
        assert decode(b"\x00\xff plain \r\n", cte) == b"\x00\xff plain \r\n"


def test_uudecode_tolerates_missing_begin_and_overlong_lines() -> None:
    line = binascii.b2a_uu(b"hello uu")
    assert uudecode(b"begin 644 a.txt\n" + line + b"`\nend\n") == b"hello uu"
    assert uudecode(line) == b"hello uu"
    assert uudecode(b"begin 644 a\n" + line.rstrip(b"\n") + b"JUNKJUNK\nend\n") == b"hello uu"
