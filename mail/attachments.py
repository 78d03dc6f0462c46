"""Attachments as lazy views: metadata up front, size and sha256 streamed on first access.

An ``Attachment`` keeps a reference to the raw message and the part's offsets, never the
decoded bytes, so a 50 MB attachment costs one 1 MiB decoding buffer when hashed and a single
decoded copy only when ``payload()`` is called (e.g. to store it).
"""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

ChunkSource = Callable[[], Iterator[bytes]]

logger = logging.getLogger(__name__)


class UndecodablePart(ValueError):
    """A part whose content cannot be decoded (e.g. an unknown Content-Transfer-Encoding)."""


def _no_chunks() -> Iterator[bytes]:
    return iter(())


@dataclass(frozen=True)
class InMemory:
    """A chunk source over bytes already decoded. A class, not a closure, so that a parsed
    email pickles (the scanner parses in a worker process and sends the result back)."""

    data: bytes

    def __call__(self) -> Iterator[bytes]:
        return iter((self.data,))


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
    def _digest(self) -> tuple[int, str, bool]:
        size = 0
        digest = hashlib.sha256()
        try:
            for chunk in self._chunks():
                size += len(chunk)
                digest.update(chunk)
        except UndecodablePart as exc:
            logger.info("attachment %s cannot be decoded: %s", self.filename, exc)
            return size, digest.hexdigest(), False
        except Exception:  # decoding is defensive already; a bug must not kill a scan
            logger.exception("attachment decoding failed: %s", self.filename)
            return size, digest.hexdigest(), False
        return size, digest.hexdigest(), True

    @property
    def size(self) -> int:
        """Decoded size in bytes (computed once, streaming)."""
        return self._digest[0]

    @property
    def undecodable(self) -> bool:
        """True when the content could not be decoded (an unknown transfer encoding, or
        decoding failed): the file is listed, its bytes are not kept."""
        return not self._digest[2]

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the decoded content (computed once, streaming)."""
        return self._digest[1]

    def iter_payload(self) -> Iterator[bytes]:
        """The decoded content in chunks, to store it without one big copy."""
        return self._chunks()

    def tnef_files(self) -> tuple[Attachment, ...]:
        """Files packed inside a winmail.dat (Outlook's TNEF), or () for other attachments.

        The winmail.dat itself stays in ``ParsedEmail.attachments``; this lists what Outlook
        users meant to send, for agents who cannot open TNEF. Unreadable TNEF gives ().
        """
        if self.content_type != "application/ms-tnef" and self.filename.lower() != "winmail.dat":
            return ()
        try:
            from tnefparse import TNEF

            packed = TNEF(self.payload(), do_checksum=False).attachments
            files = [(_tnef_name(item), bytes(item.data)) for item in packed]
        except Exception:  # tnefparse raises assorted errors on damaged input
            logger.info("unreadable TNEF in %s", self.filename, exc_info=True)
            return ()
        return tuple(
            Attachment(
                filename=name,
                content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                _chunks=InMemory(data),
            )
            for name, data in files
        )

    def in_memory(self) -> Attachment:
        """A copy that holds its decoded content (and digest) instead of decoding it from
        the message on each read: for handing it to another process ready to store."""
        if self.undecodable:
            return self  # nothing to hold: it is listed as skipped, never stored
        data = self.payload()
        digest = self.__dict__.get("_digest") or (len(data), hashlib.sha256(data).hexdigest(), True)
        copy = replace(self, _chunks=InMemory(data))
        copy.__dict__["_digest"] = digest  # cached_property storage; see ParsedEmail
        return copy

    def payload(self) -> bytes:
        """The decoded content, decoded from the message now (not cached on the object)."""
        # BytesIO.getvalue() hands over its buffer, so the result is the only full copy
        # (b"".join would hold the chunk list and the joined bytes at once).
        buffer = io.BytesIO()
        for chunk in self._chunks():
            buffer.write(chunk)
        return buffer.getvalue()


def _tnef_name(item: object) -> str:
    # tnefparse decodes the legacy title as UTF-8, but Outlook writes it in the ANSI codepage.
    try:
        name: object = item.long_filename()  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        name = getattr(item, "_name", b"")
    if isinstance(name, bytes):
        try:
            return name.decode("utf-8").strip("\x00").strip()
        except UnicodeDecodeError:
            return name.decode("cp1252", "replace").strip("\x00").strip()
    return str(name).strip("\x00").strip()
