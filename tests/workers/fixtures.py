"""Redis fixtures for the jobs layer: the machine's Redis, isolated by a per-test key prefix.

arq's keys are global (`arq:job:<id>`), so every test gets its own prefix, which
`JobsConfig` puts into job ids, the queue name, lock keys and event channels; teardown
deletes only keys containing that prefix (never FLUSHDB/FLUSHALL: the Redis is shared).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from mailscanner.workers.config import JobsConfig

REDIS_URL = os.environ.get("MAILSCANNER_TEST_REDIS", "redis://127.0.0.1:6379/11")


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
