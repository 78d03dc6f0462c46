"""A 50 MB attachment is never decoded into memory just to read its size and sha256.

Bound, and why: the raw message (~68 MB of base64) already exists before parsing. Parsing
plus hashing may allocate only bookkeeping and one 1 MiB decoding window at a time, so new
allocations must stay under 16 MiB — less than a third of ONE decoded copy (50 MiB). The
stdlib parser peaks at ~7.7x the raw size (measured: 555 MB for 72 MB) and would fail by far.
``payload()`` (storing the file) may build exactly one decoded copy: under 1.25x its size.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc

from mailscanner.mail.parsing import parse_email

MIB = 1 << 20
ATTACHMENT = 50 * MIB


def build_raw(data: bytes) -> bytes:
    head = (
        b"From: Big Sender <big@example.com>\r\nTo: support@helpdesk.example.com\r\n"
        b"Subject: huge file\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=disk.img\r\n\r\n"
    )
    return head + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--XX--\r\n"


def test_size_and_sha256_of_a_50_mb_attachment_stream_in_bounded_memory() -> None:
    data = os.urandom(ATTACHMENT)
    expected_sha = hashlib.sha256(data).hexdigest()
    raw = build_raw(data)
    del data

    tracemalloc.start()
    try:
        parsed = parse_email(raw)
        assert parsed.text_body == "See attached."
        (attachment,) = parsed.attachments
        size, sha = attachment.size, attachment.sha256
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (size, sha) == (ATTACHMENT, expected_sha)
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB for a {len(raw) / MIB:.0f} MiB message"
    assert "payload" not in vars(attachment) and parsed.defects == ()


def test_payload_builds_a_single_decoded_copy() -> None:
    data = os.urandom(ATTACHMENT)
    raw = build_raw(data)
    (attachment,) = parse_email(raw).attachments

    tracemalloc.start()
    try:
        payload = attachment.payload()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert payload == data
    assert peak < 1.25 * ATTACHMENT, f"peak {peak / MIB:.1f} MiB"
