"""Attachments as lazy views: metadata up front, size and sha256 streamed on first access.

An ``Attachment`` keeps a reference to the raw message and the part's offsets, never the
decoded bytes, so a 50 MB attachment costs one 1 MiB decoding buffer when hashed and a single
decoded copy only when ``payload()`` is called (e.g. to store it).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

ChunkSource = Callable[[], Iterator[bytes]]

logger = logging.getLogger(__name__)


def _no_chunks() -> Iterator[bytes]:
    return iter(())


@dataclass(frozen=True)
class Attachment:
    """One attached file (or attached message, or inline image) of a parsed email.

    ``content_id`` has no angle brackets, so ``cid:`` URLs in the HTML match it directly.
    ``inline`` is true for parts shown inside the body (Content-Disposition inline or
    referenced by a ``cid:`` URL).
    """

    filename: str
    content_type: str
    content_id: str | None = None
    inline: bool = False
    _chunks: ChunkSource = field(default=_no_chunks, repr=False, compare=False)

    @cached_property
    def _digest(self) -> tuple[int, str]:
        size = 0
        digest = hashlib.sha256()
        try:
            for chunk in self._chunks():
                size += len(chunk)
                digest.update(chunk)
        except Exception:  # decoding is defensive already; a bug must not kill a scan
            logger.exception("attachment decoding failed: %s", self.filename)
        return size, digest.hexdigest()

    @property
    def size(self) -> int:
        """Decoded size in bytes (computed once, streaming)."""
        return self._digest[0]

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the decoded content (computed once, streaming)."""
        return self._digest[1]

    def iter_payload(self) -> Iterator[bytes]:
        """The decoded content in chunks, to store it without one big copy."""
        return self._chunks()

    def payload(self) -> bytes:
        """The decoded content, decoded from the message now (not cached on the object)."""
        return b"".join(self._chunks())
