"""What recognising one message in two folders costs a scan, on PostgreSQL.

    .venv/bin/python bench/duplicates.py [--rows N] [--batches N] [--pg DSN]

A scanner that reads more than one folder asks, per fetch batch of 200, which of the
batch's messages it already logged in another folder (scanning/duplicates.py). This bench
fills a fresh database (built by the migrations) with --rows message-log rows in INBOX for
each of three scanners (one without server ids, one with Gmail's, one as noise), ANALYZEs,
and times per batch:
  (a) the baseline: `checkpoints.already_logged` for the batch's 200 UIDs, which every batch
      already runs;
  (b) `processed_elsewhere` for the batch's 200 Message-IDs seen from "[Gmail]/All Mail"
      (half of them logged in INBOX, half new);
  (c) the same with Gmail's ids (X-GM-MSGID) instead.
It prints medians per batch, (b)/(a) and (c)/(a), and this process's CPU time per batch.
The database server's CPU is not counted here (it runs in its own processes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from tortoise.transactions import in_transaction

from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.models import MessageLog, MessageOutcome, Scanner
from mailscanner.models.bulk import insert_rows
from mailscanner.scanning import checkpoints
from mailscanner.scanning.duplicates import dedupe_key, processed_elsewhere
from mailscanner.settings import load_settings

BATCH = 200


def rows(scanner_id: int, count: int, gmail: bool) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [dict(scanner_id=scanner_id, folder="INBOX", uidvalidity=1, uid=uid,
                 message_id=f"m{scanner_id}-{uid}@bench.example",
                 server_message_id=str(10**18 + scanner_id * 10**7 + uid) if gmail else None,
                 subject=f"subject {uid}", sender="a@bench.example",
                 outcome=MessageOutcome.NO_MATCH, created_at=now, updated_at=now)
            for uid in range(1, count + 1)]


async def timed(fn: object, runs: int) -> tuple[float, float]:
    """Median wall seconds and mean process CPU seconds of `runs` calls."""
    assert callable(fn)
    walls = []
    cpu0 = time.process_time()
    for i in range(runs):
        start = time.perf_counter()
        await fn(i)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), (time.process_time() - cpu0) / runs


async def run(pg_dsn: str, count: int, batches: int) -> None:
    base, _, _ = pg_dsn.rpartition("/")
    name = f"mailscanner_bench_dup_{os.getpid()}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        await run_migrations(url)
        settings = load_settings({"DATABASE_URL": url, "MAILSCANNER_SECRET_KEY": "b" * 20,
                                  "MAILSCANNER_DATA_DIR": str(Path("/tmp") / name)})
        await init_db(settings)
        try:
            ours = await Scanner.create(name="ours", host="h")
            gmail = await Scanner.create(name="gmail", host="imap.gmail.com")
            other = await Scanner.create(name="other", host="h")
            for scanner, with_ids in ((ours, False), (gmail, True), (other, False)):
                data = rows(scanner.id, count, with_ids)
                for i in range(0, len(data), 5000):
                    async with in_transaction() as tx:
                        await insert_rows(MessageLog, data[i:i + 5000], tx)
            conn = await asyncpg.connect(url)
            await conn.execute("ANALYZE ms_message_log")
            await conn.close()

            def window(i: int) -> list[int]:
                # half logged in INBOX (uids up to count), half new (above it)
                lo = 1 + (i * BATCH) % (count - BATCH)
                half = BATCH // 2
                return [*range(lo, lo + half), *range(count + lo, count + lo + half)]

            async def baseline(i: int) -> None:
                # a real batch: contiguous UIDs
                lo = 1 + (i * BATCH) % (count - BATCH)
                await checkpoints.already_logged(ours.id, "INBOX", 1, list(range(lo, lo + BATCH)))

            async def by_message_id(i: int) -> None:
                keys = [dedupe_key(None, f"m{ours.id}-{u}@bench.example") or "" for u in window(i)]
                await processed_elsewhere(ours.id, "[Gmail]/All Mail", keys)

            async def by_gmail_id(i: int) -> None:
                keys = [dedupe_key(str(10**18 + gmail.id * 10**7 + u), None) or ""
                        for u in window(i)]
                await processed_elsewhere(gmail.id, "[Gmail]/All Mail", keys)

            found = await processed_elsewhere(
                ours.id, "[Gmail]/All Mail",
                [dedupe_key(None, f"m{ours.id}-{u}@bench.example") or "" for u in window(0)])
            assert len(found) == BATCH // 2, len(found)  # the bench measures real hits
            for fn in (baseline, by_message_id, by_gmail_id):  # warm up
                await timed(fn, 5)
            a = await timed(baseline, batches)
            b = await timed(by_message_id, batches)
            c = await timed(by_gmail_id, batches)
        finally:
            await close_db()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"log rows: {3 * count} ({count} per scanner), batches of {BATCH}, "
          f"{batches} batches each, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    for label, (wall, cpu) in (("(a) already_logged (baseline)", a),
                               ("(b) processed_elsewhere by Message-ID", b),
                               ("(c) processed_elsewhere by Gmail id", c)):
        print(f"{label:40s} median {wall * 1000:6.2f} ms/batch  "
              f"client CPU {cpu * 1000:6.2f} ms/batch ({cpu / BATCH * 1e6:5.1f} us/message)")
    print(f"(b)/(a) = {b[0] / a[0]:.2f}   (c)/(a) = {c[0] / a[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--pg", default=os.environ.get("MAILSCANNER_TEST_PG", "postgres://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    asyncio.run(run(args.pg, args.rows, args.batches))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
