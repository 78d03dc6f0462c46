"""Attachment rows and their bytes: storing a mail's files or an agent's uploads in the blob
store, listing what was skipped, and deleting a blob with its last reference.

Order of writes: the blob first, then the row (in the caller's transaction), so a row never
names missing bytes. A rolled-back transaction can leave an unreferenced blob behind;
`sweep_unreferenced` removes those. Deleting rows goes through `delete_attachments`, which
removes each blob no remaining row references (the query at delete time is the refcount),
unless it was put within the grace period: a concurrent transaction may be about to commit
a row naming it (every put renews the blob, even of bytes already stored).
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from ..models.attachment import Attachment, SkippedReason
from .blobs import BlobStore, LocalBlobStore, StoredBlob

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from ..mail.attachments import Attachment as ParsedAttachment
    from ..mail.parsing import ParsedEmail
    from ..settings import Settings

__all__ = [
    "AttachmentPolicy",
    "clean_text",
    "default_policy",
    "delete_attachments",
    "parsed_rows",
    "policy_for",
    "read_bytes",
    "release_blobs",
    "skipped_note",
    "skipped_reason",
    "store_stream",
    "stored_count",
    "sweep_unreferenced",
]

logger = logging.getLogger(__name__)
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class AttachmentPolicy:
    """Where attachment bytes go and the size above which a file is skipped.

    `grace_seconds`: a blob put this recently is never deleted (a transaction inserting a
    row that names it may not have committed yet); `sweep_unreferenced` takes it later."""

    store: BlobStore
    max_bytes: int = DEFAULT_MAX_BYTES
    grace_seconds: float = 600.0


def policy_for(settings: Settings) -> AttachmentPolicy:
    return AttachmentPolicy(LocalBlobStore(settings.blob_dir), settings.max_attachment_bytes)


def default_policy() -> AttachmentPolicy:
    """The policy the environment configures, for code paths given no settings."""
    from ..settings import blob_dir_from_env  # late: settings is not needed otherwise

    raw = os.environ.get("MAILSCANNER_MAX_ATTACHMENT_BYTES", "")
    limit = int(raw) if raw.strip().isdigit() else DEFAULT_MAX_BYTES
    return AttachmentPolicy(LocalBlobStore(blob_dir_from_env()), limit)


def skipped_reason(att: ParsedAttachment, max_bytes: int) -> SkippedReason | None:
    """Why `att` is listed without its bytes, or None when it is kept."""
    if att.undecodable:
        return SkippedReason.UNDECODABLE
    if att.size > max_bytes:
        return SkippedReason.TOO_LARGE
    return None


def stored_count(email: ParsedEmail, max_bytes: int) -> int:
    return sum(1 for a in email.attachments if skipped_reason(a, max_bytes) is None)


def skipped_note(email: ParsedEmail, max_bytes: int) -> str:
    """What the message log says about skipped files ("" when none was skipped)."""
    skipped = [(a, r) for a in email.attachments if (r := skipped_reason(a, max_bytes))]
    if not skipped:
        return ""
    items = ", ".join(
        f"{(a.filename or 'attachment')[:80]} ({a.content_type}, {a.size} bytes, "
        + ("over the limit of " + str(max_bytes) + " bytes" if r == SkippedReason.TOO_LARGE
           else "cannot be decoded")
        + ")"
        for a, r in skipped[:10]
    )
    more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return f"; {len(skipped)} attachment(s) skipped: {items}{more}"


def clean_text(value: str, limit: int = 255) -> str:
    """Header text fit for any database and any header: no control characters (PostgreSQL
    refuses NUL, CR/LF would split a header), no lone surrogates, at most `limit` long."""
    kept = "".join(
        c for c in value if c >= " " and c != "\x7f" and not "\ud800" <= c <= "\udfff"
    )
    return kept.strip()[:limit]


def _row(att: ParsedAttachment, policy: AttachmentPolicy) -> dict[str, Any]:
    reason = skipped_reason(att, policy.max_bytes)
    row: dict[str, Any] = dict(
        filename=clean_text(att.filename or "") or "attachment",
        content_type=clean_text(att.content_type) or "application/octet-stream",
        size=att.size,
        sha256=att.sha256 if reason is None else "",
        content_id=clean_text(att.content_id) or None if att.content_id else None,
        inline=att.inline,
        storage=policy.store.name,
        storage_key=None,
        skipped_reason=reason,
    )
    if reason is None:
        blob = policy.store.put(att.iter_payload(), att.sha256)
        row["storage_key"] = blob.key
    return row


def _rows(
    items: list[tuple[ParsedEmail, int, int | None]], policy: AttachmentPolicy
) -> list[dict[str, Any]]:
    return [
        {**_row(att, policy), "ticket_id": ticket_id, "comment_id": comment_id}
        for email, ticket_id, comment_id in items
        for att in email.attachments
    ]


async def parsed_rows(
    items: list[tuple[ParsedEmail, int, int | None]], policy: AttachmentPolicy
) -> list[dict[str, Any]]:
    """Attachment row values (for `insert_rows`) of each (mail, ticket id, comment id): the
    kept files' bytes written to the blob store first, in a thread (decoding and disk I/O
    stay off the event loop); skipped files listed without bytes."""
    if not any(email.attachments for email, _, _ in items):
        return []
    return await asyncio.to_thread(_rows, items, policy)


def _file_chunks(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(READ_CHUNK):
        yield chunk


async def store_stream(fh: BinaryIO, policy: AttachmentPolicy) -> StoredBlob:
    """Store an uploaded file (read in a thread, in chunks) and return its blob."""
    fh.seek(0)
    return await asyncio.to_thread(policy.store.put, _file_chunks(fh))


async def delete_attachments(
    ids: Iterable[int], policy: AttachmentPolicy, conn: BaseDBAsyncClient | None = None
) -> int:
    """Delete attachment rows; each blob no remaining row references goes too."""
    rows = await Attachment.filter(id__in=list(ids)).using_db(conn).values("id", "storage_key")
    if not rows:
        return 0
    await Attachment.filter(id__in=[r["id"] for r in rows]).using_db(conn).delete()
    keys = {r["storage_key"] for r in rows if r["storage_key"]}
    await release_blobs(keys, policy, conn)
    return len(rows)


async def release_blobs(
    keys: Iterable[str], policy: AttachmentPolicy, conn: BaseDBAsyncClient | None = None
) -> list[str]:
    """Delete the blobs among `keys` that no attachment row references any more."""
    keys = list(keys)
    if not keys:
        return []
    found: list[Any] = await (
        Attachment.filter(storage_key__in=keys, storage=policy.store.name)
        .using_db(conn).values_list("storage_key", flat=True)
    )
    used = {str(k) for k in found}
    gone = []
    for key in (k for k in keys if k not in used):
        age = await asyncio.to_thread(policy.store.age, key)
        if age is not None and age >= policy.grace_seconds:
            await asyncio.to_thread(policy.store.delete, key)
            gone.append(key)
    return gone


async def sweep_unreferenced(policy: AttachmentPolicy, batch: int = 500) -> int:
    """Delete blobs no attachment row references and older than the grace period: left by a
    transaction that rolled back after its files were stored, or kept young by a release.
    Reads the store's keys in batches; returns how many blobs went."""
    keys = await asyncio.to_thread(lambda: list(policy.store.keys()))
    removed = 0
    for start in range(0, len(keys), batch):
        removed += len(await release_blobs(keys[start:start + batch], policy))
    if removed:
        logger.info("removed %s unreferenced attachment blob(s)", removed)
    return removed


async def read_bytes(attachment: Attachment, policy: AttachmentPolicy) -> bytes:
    """A stored attachment's whole content (for composing a mail, tests); skipped files and
    missing blobs raise BlobError. Streaming readers use `policy.store.open` instead."""
    from .blobs import BlobError

    if not attachment.storage_key:
        raise BlobError(f"attachment {attachment.id} was skipped: no bytes are kept")

    def read() -> bytes:
        with policy.store.open(str(attachment.storage_key)) as fh:
            return fh.read()

    return await asyncio.to_thread(read)
