"""Redis fixtures for the jobs layer: the machine's Redis, isolated by a per-test key prefix.

arq's keys are global (`arq:job:<id>`), so every test gets its own prefix, which
`JobsConfig` puts into job ids, the queue name, lock keys and event channels; teardown
deletes only keys containing that prefix (never FLUSHDB/FLUSHALL: the Redis is shared).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker

from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.settings import make_worker, shutdown

REDIS_URL = os.environ.get("MAILSCANNER_TEST_REDIS", "redis://127.0.0.1:6379/11")


def worker_env(settings: Settings, config: JobsConfig, **extra: str) -> dict[str, str]:
    """The environment of a `mailscanner worker` subprocess on `settings`' database and the
    test Redis under `config`'s prefix; `extra` adds or overrides variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        {
            "MAILSCANNER_DATA_DIR": str(settings.data_dir),
            "DATABASE_URL": settings.database_url,
            "MAILSCANNER_SECRET_KEY": settings.secret_key,
            "REDIS_URL": REDIS_URL,
            "MAILSCANNER_REDIS_PREFIX": config.prefix,
            "MAILSCANNER_MESSAGE_ID_DOMAIN": settings.message_id_domain,
        }
    )
    env.update(extra)
    return env


def redis_settings() -> RedisSettings:
    settings = RedisSettings.from_dsn(REDIS_URL)
    settings.conn_retries = 0  # a missing Redis fails the test at once, loudly
    return settings


@pytest.fixture
def jobs_config() -> JobsConfig:
    return JobsConfig(
        prefix=f"mstest:{uuid.uuid4().hex[:10]}:",
        tick_seconds=1,
        minute_seconds=1,
        lock_ttl_seconds=1.0,
        scan_timeout_seconds=30,
    )


async def delete_prefixed(redis: ArqRedis, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(match=f"*{prefix}*", count=500)]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def redis(jobs_config: JobsConfig) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(redis_settings(), default_queue_name=jobs_config.queue_name)
    try:
        yield pool
    finally:
        await delete_prefixed(pool, jobs_config.prefix)
        await pool.aclose()


async def run_burst_worker(
    redis: ArqRedis, config: JobsConfig, settings: Settings, **ctx: Any
) -> Worker:
    """Run an arq worker in this process on `redis` until its queue is empty, no cron jobs,
    on the test's already connected database; `ctx` adds to the worker's ctx."""
    worker = make_worker(
        config,
        redis_pool=redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        cron_jobs=[],
        ctx={"jobs_config": config, "settings": settings, "owns_db": False, **ctx},
    )
    try:
        await worker.async_run()
    finally:
        # arq leaves on_shutdown to Worker.close(), which closes our pool
        await shutdown(worker.ctx)
    return worker
