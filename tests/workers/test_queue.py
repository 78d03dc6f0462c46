from __future__ import annotations

import time
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.worker import Worker, func

from mailscanner.workers.config import JobsConfig
from mailscanner.workers.queue import ArqQueue, QueueNotConfigured, get_queue, set_queue

SEEN: list[Any] = []


async def remember(ctx: dict[str, Any], value: Any) -> str:
    SEEN.append((ctx["job_id"], value))
    return "ok"


def burst_worker(redis: ArqRedis, config: JobsConfig) -> Worker:
    return Worker(
        functions=[func(remember, name="remember", keep_result=0)],
        redis_pool=redis,
        queue_name=config.queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
    )


async def test_jobs_enqueued_through_arq_queue_run_on_an_arq_worker(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    SEEN.clear()
    queue = ArqQueue(redis, jobs_config)
    assert await queue.enqueue("remember", "a", job_id="scan:1")
    assert not await queue.enqueue("remember", "b", job_id="scan:1")  # same id: refused
    assert await queue.enqueue("remember", "c")
    await burst_worker(redis, jobs_config).async_run()
    assert sorted(v for _, v in SEEN) == ["a", "c"]
    # the prefix isolates this test's job ids from any other user of the Redis
    assert (jobs_config.prefix + "scan:1", "a") in SEEN
    # keep_result=0: the id is free again once the job ended
    assert await queue.enqueue("remember", "d", job_id="scan:1")


async def test_a_deferred_job_is_not_taken_before_its_time(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    queue = ArqQueue(redis, jobs_config)
    before_ms = int(time.time() * 1000)
    assert await queue.enqueue("remember", "later", job_id="x", defer_seconds=60)
    # arq's queue is a sorted set scored by start time; workers take scores <= now only
    score = await redis.zscore(jobs_config.queue_name, jobs_config.job_id("x"))
    assert score is not None and score >= before_ms + 60_000


async def test_reclaim_drops_the_in_progress_mark_of_a_dead_workers_job(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    queue = ArqQueue(redis, jobs_config)
    job_id = jobs_config.job_id("scan:7")
    await redis.set(in_progress_key_prefix + job_id, b"1")
    assert await queue.reclaim("scan:7")
    assert not await redis.exists(in_progress_key_prefix + job_id)
    assert not await queue.reclaim("scan:7")
    assert not await redis.exists(job_key_prefix + job_id)


def test_get_queue_says_clearly_when_nothing_was_started() -> None:
    set_queue(None)
    with pytest.raises(QueueNotConfigured, match="no job queue"):
        get_queue()
