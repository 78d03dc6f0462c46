"""Files an agent sends with a comment (`addComment(attachments: [Upload!])`, the GraphQL
multipart request spec): checked, then stored in the blob store before the comment's
transaction, so the rows written in it always name complete bytes.

Limits (typed ValidationError, field `attachments` or `attachments[i]`): at most
MAX_UPLOAD_FILES files (TOO_MANY, checked by the input guard), each and all together at
most `MAILSCANNER_MAX_ATTACHMENT_BYTES` (TOO_LARGE: the comment email must stay sendable),
names of at most 255 characters after the path is cut off (TOO_LONG).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..models.attachment import Attachment
from ..schema.errors import ErrorCode, InputErrors
from ..schema.limits import FILENAME_CHARS
from ..storage.attachments import AttachmentPolicy, release_blobs, store_stream

__all__ = ["StoredUpload", "check_uploads", "release_uploads", "store_uploads", "upload_rows"]

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]"
_TYPE = re.compile(rf"^{_TOKEN}{{0,63}}/{_TOKEN}{{0,126}}$")


@dataclass(frozen=True)
class StoredUpload:
    filename: str
    content_type: str
    size: int
    key: str
    storage: str


def _size(upload: Any) -> int:
    size = getattr(upload, "size", None)
    if isinstance(size, int):
        return size
    fh = upload.file
    fh.seek(0, 2)
    end = int(fh.tell())
    fh.seek(0)
    return end


def _filename(upload: Any) -> str:
    raw = str(getattr(upload, "filename", "") or "")
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]  # browsers on Windows send full paths
    return "".join(c for c in name if c >= " " and c != "\x7f").strip() or "attachment"


def _content_type(upload: Any) -> str:
    declared = str(getattr(upload, "content_type", "") or "").split(";", 1)[0].strip().lower()
    return declared if _TYPE.match(declared) else "application/octet-stream"


def check_uploads(uploads: list[Any], max_bytes: int, errors: InputErrors) -> None:
    """Add a field error per file too large or badly named, and one for the total."""
    total = 0
    for i, upload in enumerate(uploads):
        size = _size(upload)
        total += size
        if size > max_bytes:
            errors.add(f"attachments[{i}]", ErrorCode.TOO_LARGE,
                       f"{_filename(upload)[:80]} is {size} bytes, over the limit of "
                       f"{max_bytes} bytes (MAILSCANNER_MAX_ATTACHMENT_BYTES)")
        if len(_filename(upload)) > FILENAME_CHARS:
            errors.add(f"attachments[{i}]", ErrorCode.TOO_LONG,
                       f"The file name is longer than {FILENAME_CHARS} characters")
    if total > max_bytes and not errors.errors:
        errors.add("attachments", ErrorCode.TOO_LARGE,
                   f"The files total {total} bytes, over the limit of {max_bytes} bytes for "
                   "one comment (MAILSCANNER_MAX_ATTACHMENT_BYTES)")


async def store_uploads(uploads: list[Any], policy: AttachmentPolicy) -> list[StoredUpload]:
    """Write each file to the blob store (read in chunks, in a thread)."""
    stored = []
    for upload in uploads:
        blob = await store_stream(upload.file, policy)
        stored.append(StoredUpload(_filename(upload), _content_type(upload), blob.size,
                                   blob.key, policy.store.name))
    return stored


def upload_rows(stored: list[StoredUpload], ticket_id: int, comment_id: int) -> list[Attachment]:
    return [
        Attachment(ticket_id=ticket_id, comment_id=comment_id, filename=s.filename,
                   content_type=s.content_type, size=s.size, sha256=s.key, storage=s.storage,
                   storage_key=s.key)
        for s in stored
    ]


async def release_uploads(stored: list[StoredUpload], policy: AttachmentPolicy) -> None:
    """The comment was not saved: its files' blobs go unless another row uses them."""
    await release_blobs({s.key for s in stored}, policy)
