"""Benchmark: what the scan lock costs per scan, database lease against a Redis lock.

Run: ``.venv/bin/python bench/scan_lock.py [--cycles 500] [--postgres]``

A scan takes the lock once, renews it every TTL/3 while it runs and releases it at the end,
so its cost is one take + one release per scan. Series, same run, same machine:
  * `DatabaseLocks` (the lock every starter uses): take + release, on SQLite (a temp file)
    or, with --postgres, on a fresh database at 127.0.0.1:5432;
  * `RedisLocks` (the former worker lock, at 127.0.0.1:6379 db 12): take + release;
  * a contended take: 8 starters at once on one key (exactly one must win each round).
Prints per-cycle latency (p50/p95) and the ratio database/Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.settings import load_settings
from mailscanner.workers.lock import DatabaseLocks, RedisLocks, new_token

REDIS_URL = "redis://127.0.0.1:6379/12"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"


async def cycles(locks: DatabaseLocks | RedisLocks, key: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        token = new_token()
        start = time.perf_counter()
        assert await locks.acquire(key, token)
        assert await locks.release(key, token)
        out.append(time.perf_counter() - start)
    return out


async def contended(locks: DatabaseLocks, key: str, rounds: int) -> tuple[float, int]:
    start = time.perf_counter()
    wrong = 0
    for _ in range(rounds):
        tokens = [new_token() for _ in range(8)]
        won = await asyncio.gather(*(locks.acquire(key, t) for t in tokens))
        wrong += sum(won) != 1
        await locks.release(key, tokens[won.index(True)])
    return (time.perf_counter() - start) / rounds, wrong


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return f"p50 {statistics.median(values) * 1000:.2f} ms, p95 {q[18] * 1000:.2f} ms"


async def main(n: int, postgres: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ms-bench-lock-"))
    db_name = f"mailscanner_bench_lock_{uuid.uuid4().hex[:8]}"
    if postgres:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{db_name}"')
        await admin.close()
        url = PG_ADMIN.rpartition("/")[0] + "/" + db_name
    else:
        url = f"sqlite://{tmp / 'bench.sqlite3'}"
    settings = load_settings({
        "MAILSCANNER_DATA_DIR": str(tmp / "data"), "DATABASE_URL": url,
        "MAILSCANNER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    })
    await run_migrations(url)
    await init_db(settings)
    redis = Redis.from_url(REDIS_URL)
    key = f"bench:{uuid.uuid4().hex}:scan:1"
    try:
        database = await cycles(DatabaseLocks(60), key, n)
        baseline = await cycles(RedisLocks(redis, 60), key, n)
        per_round, wrong = await contended(DatabaseLocks(60), key + ":c", max(n // 10, 10))
    finally:
        await redis.delete(key)
        await redis.aclose()
        await close_db()
        if postgres:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await admin.close()
    backend = "PostgreSQL" if postgres else "SQLite"
    print(f"take + release, {n} cycles")
    print(f"  database lease ({backend}): {ms(database)}")
    print(f"  Redis lock (baseline):      {ms(baseline)}")
    ratio = statistics.median(database) / statistics.median(baseline)
    print(f"  ratio database/Redis (p50): {ratio:.1f}x")
    print(f"8 starters at once on one key: {per_round * 1000:.2f} ms per round, "
          f"rounds without exactly one winner: {wrong}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.cycles, args.postgres))
