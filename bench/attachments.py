"""Benchmark: downloading a 20 MB attachment through GET /attachments/{id}, against reading
the same file from disk, and the server's memory while 10 downloads of it run at once.

Run: ``.venv/bin/python bench/attachments.py [--size-mb 20] [--rounds 5] [--parallel 10]``

A real server (uvicorn in a subprocess, SQLite in a temp data dir) serves one attachment
whose bytes sit in the local blob store. Same run, same file, each measured twice: "cold"
(the file evicted from the page cache before every round with fsync + POSIX_FADV_DONTNEED,
so it really comes from the disk) and "warm" (from the page cache, i.e. memory bandwidth):
  * disk: the blob file read in 1 MiB chunks by this process;
  * download: a full GET with a Bearer token over loopback (http.client, 1 MiB reads), token
    check and row lookup included; median of `rounds` downloads (the bytes' sha256 is
    checked on the warm-up and the parallel downloads, outside the timed rounds);
  * memory: the server's RSS after a warm-up download (idle), and its peak RSS (sampled every
    5 ms from /proc) while `parallel` downloads run at once in threads.
Printed: MB/s of each, the download/disk ratio (goal >= 50 %), idle and peak RSS and their
difference (goal < 100 MB).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHUNK = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(env: dict[str, str], size: int) -> tuple[str, int, Path, str]:
    os.environ.update(env)
    from mailscanner.db import close_db, init_db
    from mailscanner.models import Attachment, Role, Ticket
    from mailscanner.resolvers.auth import create_token
    from mailscanner.settings import load_settings
    from mailscanner.storage.attachments import policy_for

    settings = load_settings(env)
    await init_db(settings, migrate=True)
    try:
        token = await create_token(Role.AGENT, "bench", "Bench Agent")
        store = policy_for(settings).store
        data = os.urandom(size)
        blob = store.put([data])
        ticket = await Ticket.create(number="TT1", title="bench")
        row = await Attachment.create(ticket=ticket, filename="big.bin", size=blob.size,
                                      sha256=blob.sha256, storage_key=blob.key,
                                      content_type="application/octet-stream")
        path = store.path(blob.key)
        assert path is not None
        return token, row.id, path, blob.sha256
    finally:
        await close_db()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _download(port: int, path: str, token: str, check: bool = True) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status == 200, response.read()[:300]
        digest, size = hashlib.sha256(), 0
        while chunk := response.read(CHUNK):
            if check:  # timed rounds skip it: the disk baseline does not hash either
                digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
    finally:
        conn.close()


def _read_disk(path: Path) -> int:
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            size += len(chunk)
    return size


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(fn: object, rounds: int, cold: Path | None = None) -> float:
    times = []
    for _ in range(rounds):
        if cold is not None:
            _evict(cold)
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=10)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        env = {"MAILSCANNER_DATA_DIR": tmp, "MAILSCANNER_SECRET_KEY": "bench-secret-0123456789"}
        token, att_id, blob_path, sha = asyncio.run(_seed(env, size))
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-c",
             "import uvicorn; from mailscanner.app import create_app; "
             f"uvicorn.run(create_app(start_services=False), host='127.0.0.1', port={port}, "
             "log_level='warning')"],
            env={**os.environ, **env})
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            url = f"/attachments/{att_id}"
            got = _download(port, url, token)  # warm-up: page cache, imports, connections
            assert got == (size, sha), "downloaded bytes differ from the stored ones"
            mb = size / 1e6
            print(f"file: {args.size_mb} MiB ({mb:.1f} MB); median of {args.rounds} rounds")
            for label, cold in (("cold", blob_path), ("warm", None)):
                _read_disk(blob_path)
                disk_s = _timed(lambda: _read_disk(blob_path), args.rounds, cold)
                http_s = _timed(lambda: _download(port, url, token, False), args.rounds, cold)
                print(f"[{label}] disk read (1 MiB chunks):      {mb / disk_s:8.0f} MB/s")
                print(f"[{label}] GET /attachments/{{id}} (auth): {mb / http_s:8.0f} MB/s")
                print(f"[{label}] download / disk ratio:         {disk_s / http_s * 100:8.1f} %"
                      + ("  (goal >= 50 %)" if cold else ""))

            time.sleep(0.5)
            idle = _rss_kb(server.pid)
            peak = idle
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, _rss_kb(server.pid))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample)
            sampler.start()
            results: list[tuple[int, str]] = []
            workers = [threading.Thread(target=lambda: results.append(_download(port, url, token)))
                       for _ in range(args.parallel)]
            start = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - start
            stop.set()
            sampler.join()
            assert results == [(size, sha)] * args.parallel
            print(f"{args.parallel} parallel downloads: {args.parallel * mb / elapsed:8.0f} MB/s "
                  f"total in {elapsed:.2f} s")
            print(f"server RSS idle {idle / 1024:.1f} MB, peak {peak / 1024:.1f} MB, "
                  f"above idle {(peak - idle) / 1024:.1f} MB  (goal < 100 MB)")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
