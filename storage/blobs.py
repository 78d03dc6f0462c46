"""A content-addressed blob store: bytes are stored once under their SHA-256, however
often they arrive, behind one small interface (put / open / delete / exists).

`LocalBlobStore` keeps them in a folder (`<root>/ab/cd/abcd…`, two fan-out levels so no
directory grows past a few thousand entries). An S3-compatible store implements the same
`BlobStore` protocol; attachment rows record which backend (`storage`) and which key hold
their bytes, so rows of both kinds can live side by side while migrating.

Writes are crash-safe: a blob is written to a temporary file in the same folder, fsynced
and renamed into place, so a key either names complete bytes or nothing. All methods are
blocking file I/O: call them from a thread (`asyncio.to_thread`), never on the event loop.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["LOCAL", "BlobError", "BlobStore", "LocalBlobStore", "StoredBlob", "is_key"]

LOCAL = "local"  # the `storage` column value of LocalBlobStore rows
CHUNK = 1 << 20


class BlobError(Exception):
    """A blob cannot be stored or read (disk full, permissions, a missing key)."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str


def is_key(key: str) -> bool:
    """True for a well-formed key (64 lowercase hex digits): keys never name other files."""
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


class BlobStore(Protocol):
    """The seam every backend implements. Keys are the hex SHA-256 of the content."""

    name: str  # stored in the attachment row's `storage` column

    def put(self, chunks: Iterable[bytes], sha256: str | None = None) -> StoredBlob:
        """Store the bytes `chunks` yields (streamed, never joined). With `sha256` known and
        already stored, nothing is read or written."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A binary file object positioned at the start; raises BlobError if missing."""
        ...

    def path(self, key: str) -> Path | None:
        """A local file path for `key` when the backend has one (served with sendfile-like
        streaming and Range support), else None."""
        ...

    def size(self, key: str) -> int:
        ...

    def exists(self, key: str) -> bool:
        ...

    def age(self, key: str) -> float | None:
        """Seconds since the blob was last put (a put of stored bytes renews it), None if
        missing. Deleters leave young blobs alone: a row naming one may be committing."""
        ...

    def keys(self) -> Iterator[str]:
        """Every stored key (for the sweep of unreferenced blobs)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing one is fine (deleting is idempotent)."""
        ...


class LocalBlobStore:
    """Blobs as files under `root` (created 0700 on first write)."""

    name = LOCAL

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, key: str) -> Path:
        if not is_key(key):
            raise BlobError(f"not a blob key: {key[:80]!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, chunks: Iterable[bytes], sha256: str | None = None) -> StoredBlob:
        if sha256 is not None and is_key(sha256):
            target = self._file(sha256)
            try:
                os.utime(target)  # renewed: a concurrent release or sweep leaves it alone
                return StoredBlob(sha256, target.stat().st_size, sha256)
            except FileNotFoundError:
                pass
        digest = hashlib.sha256()
        size = 0
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            key = digest.hexdigest()
            target = self._file(key)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(tmp, target)  # atomic: the same bytes may land twice, never half
            os.utime(target)  # mkstemp's mtime is when the write began
        except OSError as exc:
            raise BlobError(f"cannot store a blob in {self.root}: {exc.strerror}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return StoredBlob(key, size, key)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._file(key).open("rb")
        except OSError as exc:
            raise BlobError(f"blob {key} is missing: {exc.strerror}") from exc

    def path(self, key: str) -> Path | None:
        return self._file(key)

    def size(self, key: str) -> int:
        try:
            return self._file(key).stat().st_size
        except OSError as exc:
            raise BlobError(f"blob {key} is missing: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return is_key(key) and self._file(key).exists()

    def age(self, key: str) -> float | None:
        try:
            return max(0.0, time.time() - self._file(key).stat().st_mtime)
        except FileNotFoundError:
            return None

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/??/*"):
            if is_key(path.name):
                yield path.name

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(key).unlink()
