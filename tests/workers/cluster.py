"""Worker processes for multi-worker tests: `mailscanner worker` subprocesses on a test prefix.

Time is compressed through the jobs layer's env knobs (tick, "minute", lock TTL) so several
scheduler ticks and a lock expiry fit in seconds. Each worker logs to its own file, which a
failing test prints.

Several worker processes need a database that takes concurrent writers, as deployed at
scale: `shared_db` is a PostgreSQL database of their own whatever MAILSCANNER_TEST_DB says.
(On one SQLite file, two processes' scans fail with "database is locked" when a deferred
transaction that has read tries to write while the other process writes.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.settings import Settings, load_settings
from mailscanner.workers.config import JobsConfig

from ..conftest import PG_ADMIN_DSN, _pg_url, _truncate_all
from .fixtures import worker_env

SHARED_DB_NAME = f"mailscanner_workers_{os.getpid()}"


@pytest.fixture(scope="session")
def shared_database_url() -> Iterator[str]:
    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{SHARED_DB_NAME}"'))
    asyncio.run(admin(f'CREATE DATABASE "{SHARED_DB_NAME}"'))
    asyncio.run(run_migrations(_pg_url(SHARED_DB_NAME)))
    yield _pg_url(SHARED_DB_NAME)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{SHARED_DB_NAME}" WITH (FORCE)'))


@pytest.fixture
async def shared_db(shared_database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """Like `db`, on PostgreSQL always: connected, empty, shared with worker processes."""
    settings = load_settings(
        {
            "MAILSCANNER_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": shared_database_url,
            "MAILSCANNER_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test",
        }
    )
    await init_db(settings)
    await _truncate_all()
    try:
        yield settings
    finally:
        await close_db()


def cluster_env(settings: Settings, config: JobsConfig) -> dict[str, str]:
    """`worker_env` with the jobs layer's time compressed as `config` says."""
    return worker_env(
        settings,
        config,
        MAILSCANNER_CRON_SECONDS=str(config.tick_seconds),
        MAILSCANNER_MINUTE_SECONDS=str(config.minute_seconds),
        MAILSCANNER_SCAN_LOCK_TTL=str(config.lock_ttl_seconds),
        MAILSCANNER_SCAN_TIMEOUT=str(config.scan_timeout_seconds),
    )


@dataclass
class WorkerCluster:
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, count: int, *args: str) -> None:
        """Start `count` workers; `args` are extra `mailscanner worker` options."""
        for _ in range(count):
            log = open(self.log_dir / f"worker{len(self.procs)}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "mailscanner", "worker", "--log-level", "info",
                     *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()

    def by_pid(self, pid: int) -> subprocess.Popen[bytes]:
        return next(p for p in self.procs if p.pid == pid)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted(self.log_dir.glob("worker*.log"))
        )


async def tick_records(redis: ArqRedis, config: JobsConfig) -> list[dict[str, Any]]:
    """The scheduler's summaries, one per tick slot, oldest first (ticks still running skipped)."""
    keys = [k async for k in redis.scan_iter(match=config.tick_key(0).replace(":0", ":*"))]
    records = [json.loads(v) for v in await redis.mget(keys)] if keys else []
    return sorted((r for r in records if "slot_ms" in r), key=lambda r: r["slot_ms"])


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    *,
    limit: float = 45,
    on_fail: Callable[[], str] = lambda: "",
) -> None:
    """Poll until `check()` holds; fail with `what` (and worker logs) if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}\n{on_fail()}")
        await asyncio.sleep(0.2)
