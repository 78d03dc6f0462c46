"""GET /attachments/{id}: an attachment's bytes, streamed to an agent or admin.

- Auth as for /graphql: `Authorization: Bearer <token>`; 401 GraphQL-shaped JSON without a
  valid one, 404 for an id no attachment has (or one whose bytes were skipped).
- Safe to open in a browser: what a browser would run or render as a page (HTML, SVG, XML,
  scripts) goes out as `application/octet-stream`; `X-Content-Type-Options: nosniff` (the
  security-headers middleware), `Content-Disposition: attachment` with the RFC 6266/5987
  `filename*` (any name: quotes, slashes, CR/LF and non-ASCII are percent-encoded) and an
  ASCII fallback, `Content-Security-Policy: sandbox` in case it is opened anyway.
- `ETag` is the sha256 (If-None-Match answers 304); `Range` requests get 206 / 416.
- Streaming: a local blob is sent by Starlette's FileResponse (chunks read in a thread, Range
  handled there); other backends stream `open()` in chunks read in a thread. Memory stays
  one chunk per download whatever the size.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator
from typing import BinaryIO
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from .graphql_view import authenticate_header
from .http_errors import RequestRejected, error_response
from .models.attachment import Attachment
from .storage.attachments import AttachmentPolicy, policy_for
from .storage.blobs import BlobError

logger = logging.getLogger(__name__)

NOT_FOUND = "NOT_FOUND"
STORAGE_ERROR = "STORAGE_ERROR"
MAX_ID_DIGITS = 18
CHUNK = 1024 * 1024
OCTET = "application/octet-stream"
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# Types a browser would execute or render as an active document from our origin.
_ACTIVE = re.compile(r"html|xml|svg|javascript|ecmascript|jscript|x-sh|wasm|x-shockwave")


class BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per thread hop and ASGI message; 1 MiB halves the CPU per byte
    # of a large download (bench/attachments.py) and still bounds memory to one chunk each.
    chunk_size = CHUNK


def safe_content_type(declared: str) -> str:
    """The part's type when harmless, else application/octet-stream."""
    value = declared.split(";", 1)[0].strip().lower()
    if not _TYPE.match(value) or _ACTIVE.search(value):
        return OCTET
    if value.startswith(("text/x-", "multipart/", "message/")):
        return OCTET
    return value


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name as RFC 5987 `filename*`."""
    name = filename.strip() or "attachment"
    fallback = re.sub(r'[^A-Za-z0-9._ -]', "_", name)[:150].strip(" .") or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _not_found(raw: str) -> Response:
    return error_response(404, f"No attachment with id {raw[:40]!r}", NOT_FOUND)


async def _stream(store_open: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(store_open.read, CHUNK):
            yield chunk
    finally:
        await anyio.to_thread.run_sync(store_open.close)


async def download(request: Request) -> Response:
    try:
        await authenticate_header(request.headers.get("authorization"))
    except RequestRejected as exc:
        return exc.response()
    raw = str(request.path_params.get("id", ""))
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        return _not_found(raw)
    row = await Attachment.get_or_none(id=int(raw))
    if row is None:
        return _not_found(raw)
    if not row.storage_key:
        return error_response(404, f"Attachment {row.id} was skipped ({row.skipped_reason}): "
                              "its bytes were not kept", NOT_FOUND)
    policy: AttachmentPolicy = policy_for(request.app.state.settings)
    store = policy.store
    if row.storage != store.name:
        return error_response(500, f"Attachment {row.id} is in the {row.storage!r} store, "
                              "which this server is not configured for", STORAGE_ERROR)
    etag = f'"{row.sha256 or row.storage_key}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": content_disposition(row.filename),
        "Cache-Control": "private, no-cache",
        "Content-Security-Policy": "sandbox",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    path = store.path(row.storage_key)
    try:
        if path is not None:
            stat = await anyio.to_thread.run_sync(os.stat, path)
            return BlobFileResponse(path, stat_result=stat, headers=headers,
                                media_type=safe_content_type(row.content_type))
        size = await anyio.to_thread.run_sync(store.size, row.storage_key)
        fh = await anyio.to_thread.run_sync(store.open, row.storage_key)
    except (OSError, BlobError):
        logger.error("attachment %s: blob %s is missing", row.id, row.storage_key, exc_info=True)
        return error_response(500, f"The bytes of attachment {row.id} are missing from the "
                              "blob store", STORAGE_ERROR)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_stream(fh), headers=headers,
                             media_type=safe_content_type(row.content_type))


__all__ = ["content_disposition", "download", "safe_content_type"]
