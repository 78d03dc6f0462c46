"""Worker processes for multi-worker tests: `mailscanner worker` subprocesses on a test prefix.

Time is compressed through the jobs layer's env knobs (tick, "minute", lock TTL) so several
scheduler ticks and a lock expiry fit in seconds. Each worker logs to its own file, which a
failing test prints.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis

from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig

from .fixtures import REDIS_URL


def cluster_env(settings: Settings, config: JobsConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))}
    env.update({
        "MAILSCANNER_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
        "MAILSCANNER_SECRET_KEY": settings.secret_key, "REDIS_URL": REDIS_URL,
        "MAILSCANNER_MESSAGE_ID_DOMAIN": settings.message_id_domain,
        "MAILSCANNER_REDIS_PREFIX": config.prefix,
        "MAILSCANNER_CRON_SECONDS": str(config.tick_seconds),
        "MAILSCANNER_MINUTE_SECONDS": str(config.minute_seconds),
        "MAILSCANNER_SCAN_LOCK_TTL": str(config.lock_ttl_seconds),
        "MAILSCANNER_SCAN_TIMEOUT": str(config.scan_timeout_seconds),
    })
    return env


@dataclass
class WorkerCluster:
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, count: int) -> None:
        for _ in range(count):
            log = open(self.log_dir / f"worker{len(self.procs)}.log", "wb")  # noqa: SIM115
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "mailscanner", "worker", "--log-level", "info"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT))
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
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.log_dir.glob("worker*.log")))


async def tick_records(redis: ArqRedis, config: JobsConfig) -> list[dict[str, Any]]:
    """The summaries the scheduler wrote, one per tick slot, oldest first (claims still running skipped)."""
    keys = [k async for k in redis.scan_iter(match=config.tick_key(0).replace(":0", ":*"))]
    records = [json.loads(v) for v in await redis.mget(keys)] if keys else []
    return sorted((r for r in records if "slot_ms" in r), key=lambda r: r["slot_ms"])


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, *, limit: float = 45,
                     on_fail: Callable[[], str] = lambda: "") -> None:
    """Poll until `check()` holds; fail with `what` (and worker logs) if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}\n{on_fail()}")
        await asyncio.sleep(0.2)
