"""Attachment rows over the blob store: skipped files listed, shared blobs, deletion."""
from __future__ import annotations

import os
import time
from pathlib import Path

from mailscanner.mail.parsing import parse_email
from mailscanner.models import Attachment, SkippedReason, Ticket
from mailscanner.settings import Settings
from mailscanner.storage.attachments import (
    AttachmentPolicy,
    delete_attachments,
    parsed_rows,
    release_blobs,
    skipped_note,
    sweep_unreferenced,
)
from mailscanner.storage.blobs import LocalBlobStore

BINHEX_MAIL = (
    b"From: ann@example.com\r\nTo: support@helpdesk.test\r\nSubject: old mac file\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    b"--b\r\nContent-Type: application/mac-binhex40; name=report.hqx\r\n"
    b"Content-Disposition: attachment; filename=report.hqx\r\n"
    b"Content-Transfer-Encoding: x-binhex\r\n\r\n(This file must be converted with BinHex 4.0)\r\n"
    b"--b\r\nContent-Type: application/pdf; name=ok.pdf\r\n"
    b"Content-Disposition: attachment; filename=ok.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
)


def _policy(tmp_path: Path, limit: int = 1024, grace: float = 0.0) -> AttachmentPolicy:
    return AttachmentPolicy(LocalBlobStore(tmp_path / "blobs"), limit, grace)


async def test_an_undecodable_part_is_listed_skipped_and_the_log_note_names_it(
    db: Settings, tmp_path: Path
) -> None:
    email = parse_email(BINHEX_MAIL)
    ticket = await Ticket.create(number="TT1", title="old mac file")
    rows = await parsed_rows([(email, ticket.id, None)], _policy(tmp_path))
    await Attachment.bulk_create([Attachment(**r) for r in rows])
    stored = {a.filename: a for a in await Attachment.all()}
    assert stored["report.hqx"].skipped_reason == SkippedReason.UNDECODABLE
    assert stored["report.hqx"].storage_key is None
    assert stored["ok.pdf"].skipped_reason is None and stored["ok.pdf"].size == 8
    assert skipped_note(email, 1024) == (
        "; 1 attachment(s) skipped: report.hqx (application/mac-binhex40, 0 bytes, "
        "cannot be decoded)")


async def test_deleting_the_last_reference_deletes_the_blob_and_not_before(
    db: Settings, tmp_path: Path
) -> None:
    # given: the same PDF on two tickets: one blob, two rows
    policy = _policy(tmp_path)
    mail = parse_email(BINHEX_MAIL)
    first = await Ticket.create(number="TT1", title="a")
    second = await Ticket.create(number="TT2", title="b")
    rows = await parsed_rows([(mail, first.id, None), (mail, second.id, None)], policy)
    await Attachment.bulk_create([Attachment(**r) for r in rows])
    pdfs = await Attachment.filter(filename="ok.pdf").order_by("id")
    key = pdfs[0].storage_key
    assert key is not None and pdfs[1].storage_key == key
    # when / then: one row goes, the blob stays for the other
    assert await delete_attachments([pdfs[0].id], policy) == 1
    assert policy.store.exists(key)
    # when / then: the last reference goes, and the blob with it
    assert await delete_attachments([pdfs[1].id], policy) == 1
    assert not policy.store.exists(key)


async def test_a_blob_put_within_the_grace_period_outlives_a_release_until_the_sweep(
    db: Settings, tmp_path: Path
) -> None:
    # given: a blob just stored for a row whose transaction has not committed (none yet)
    policy = _policy(tmp_path, grace=600)
    referenced = policy.store.put([b"kept by a row"])
    ticket = await Ticket.create(number="TT1", title="a")
    await Attachment.create(ticket=ticket, filename="a.txt", storage_key=referenced.key)
    fresh = policy.store.put([b"row still committing"])
    # when / then: releasing it keeps it, it is too young
    assert await release_blobs([fresh.key], policy) == []
    assert policy.store.exists(fresh.key)
    # when: both blobs are older than the grace period and the sweep runs
    old = time.time() - 3600
    for key in (fresh.key, referenced.key):
        path = policy.store.path(key)
        assert path is not None
        os.utime(path, (old, old))
    assert await sweep_unreferenced(policy) == 1
    # then: the unreferenced one went, the referenced one stays
    assert not policy.store.exists(fresh.key) and policy.store.exists(referenced.key)


async def test_control_characters_in_a_mail_s_file_name_never_reach_the_database(
    db: Settings, tmp_path: Path
) -> None:
    raw = (b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain"
           b"\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\nContent-ID: <x\x00y>\r\n"
           b"Content-Disposition: attachment; filename*=utf-8''a%00b%0D%0A.pdf\r\n\r\nzz\r\n"
           b"--b--\r\n")
    ticket = await Ticket.create(number="TT1", title="x")
    rows = await parsed_rows([(parse_email(raw), ticket.id, None)], _policy(tmp_path))
    await Attachment.bulk_create([Attachment(**r) for r in rows])
    row = await Attachment.get()
    assert (row.filename, row.content_id) == ("ab.pdf", "xy")
