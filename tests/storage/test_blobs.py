"""The local blob store: content-addressed, written once, atomic, keys never escape it."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailscanner.storage.blobs import BlobError, LocalBlobStore


def test_bytes_are_stored_once_under_their_sha256_however_often_they_arrive(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"invoice " * 1000
    first = store.put([data[:10], data[10:]])
    second = store.put([data])
    assert first.key == second.key == hashlib.sha256(data).hexdigest()
    assert first.size == len(data)
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].name == first.key
    with store.open(first.key) as fh:
        assert fh.read() == data


def test_a_known_sha256_already_stored_is_not_read_again(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put([b"abc"]).key

    def never() -> Iterator[bytes]:
        raise AssertionError("the content was read although the blob exists")
        yield b""

    assert store.put(never(), sha256=key).key == key


def test_a_failed_write_leaves_no_blob_and_no_temporary_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise OSError(28, "No space left on device")

    with pytest.raises(BlobError, match="No space left"):
        store.put(broken())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_delete_is_idempotent_and_keys_cannot_name_other_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put([b"x"]).key
    store.delete(key)
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(BlobError, match="not a blob key"):
        store.open("../../etc/passwd")
    assert not store.exists("../secret_key")
