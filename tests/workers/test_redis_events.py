from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import create_pool
from arq.connections import ArqRedis

from mailscanner import events
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.redis_events import RedisBroker

from .fixtures import redis_settings


@pytest.fixture
async def other_process_redis(jobs_config: JobsConfig) -> AsyncIterator[ArqRedis]:
    """A second connection pool, standing in for another worker process."""
    pool = await create_pool(redis_settings())
    yield pool
    await pool.aclose()


async def first_event(iterator: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(iterator.__anext__(), 10)


async def test_an_event_published_by_another_process_reaches_the_subscriber(
    redis: ArqRedis, other_process_redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    api = RedisBroker(redis, jobs_config)
    worker = RedisBroker(other_process_redis, jobs_config)
    try:
        progress = api.subscribe(events.scan_run_channel(7))
        tickets = api.subscribe(events.TICKETS_CHANNEL)
        waiting = asyncio.ensure_future(first_event(progress))
        other = asyncio.ensure_future(first_event(tickets))
        await asyncio.sleep(0)
        await api._start()  # subscription confirmed by Redis
        await worker.publish(events.scan_run_channel(8), {"processed": 99})  # not ours
        await worker.publish(events.scan_run_channel(7), {"processed": 3, "total": 10})
        assert await waiting == {"processed": 3, "total": 10}
        assert not other.done()
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other
        await progress.aclose()  # type: ignore[attr-defined]
        assert api._local == {}  # both subscriptions gone: nothing left to fan out to
    finally:
        await api.close()
        await worker.close()


async def test_every_local_subscriber_of_a_channel_gets_each_event(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    broker = RedisBroker(redis, jobs_config)
    try:
        subs = [broker.subscribe(events.TICKETS_CHANNEL) for _ in range(3)]
        pending = [asyncio.ensure_future(first_event(s)) for s in subs]
        await asyncio.sleep(0)
        await broker._start()
        await broker.publish(events.TICKETS_CHANNEL, {"kind": "comment_added", "ticket_id": 5})
        assert [await p for p in pending] == [{"kind": "comment_added", "ticket_id": 5}] * 3
        for s in subs:
            await s.aclose()  # type: ignore[attr-defined]
        assert broker._local == {}
    finally:
        await broker.close()


async def test_events_publish_goes_through_the_installed_redis_broker(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    broker = RedisBroker(redis, jobs_config)
    events.set_broker(broker)
    try:
        sub = events.subscribe(events.TICKETS_CHANNEL)
        pending = asyncio.ensure_future(first_event(sub))
        await asyncio.sleep(0)
        await broker._start()
        await events.publish_ticket_event("ticket_created", 42, number="TT42")
        assert await pending == {"kind": "ticket_created", "ticket_id": 42, "number": "TT42"}
        await sub.aclose()  # type: ignore[attr-defined]
    finally:
        events.set_broker(events.InProcessBroker())
        await broker.close()


async def test_deployments_with_different_prefixes_do_not_hear_each_other(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    ours = RedisBroker(redis, jobs_config)
    theirs = RedisBroker(redis, JobsConfig(prefix=jobs_config.prefix + "other:"))
    try:
        sub = ours.subscribe(events.TICKETS_CHANNEL)
        pending = asyncio.ensure_future(first_event(sub))
        await asyncio.sleep(0)
        await ours._start()
        await theirs.publish(events.TICKETS_CHANNEL, {"from": "them"})
        await ours.publish(events.TICKETS_CHANNEL, {"from": "us"})
        assert await pending == {"from": "us"}
        await sub.aclose()  # type: ignore[attr-defined]
    finally:
        await ours.close()
