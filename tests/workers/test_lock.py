from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis

from mailscanner.workers.config import JobsConfig
from mailscanner.workers.lock import InProcessLocks, LockBusy, LockLost, RedisLocks, new_token


@pytest.fixture
def key(jobs_config: JobsConfig) -> str:
    return jobs_config.scan_lock_key(1)


async def test_a_held_redis_lock_refuses_a_second_holder_until_released(
    redis: ArqRedis, key: str
) -> None:
    locks = RedisLocks(redis, ttl_seconds=5)
    async with locks.hold(key) as token:
        assert (await redis.get(key)).decode() == token
        with pytest.raises(LockBusy):
            async with locks.hold(key):
                pass
    assert not await locks.is_held(key)
    async with locks.hold(key):
        pass


async def test_the_heartbeat_keeps_the_lock_past_its_ttl(redis: ArqRedis, key: str) -> None:
    locks = RedisLocks(redis, ttl_seconds=0.3)
    other = RedisLocks(redis, ttl_seconds=0.3)
    async with locks.hold(key):
        await asyncio.sleep(1.0)  # three TTLs
        assert not await other.acquire(key, new_token())


async def test_a_dead_holders_lock_expires_after_the_ttl(redis: ArqRedis, key: str) -> None:
    # given a holder that died without releasing (no heartbeat, no release)
    locks = RedisLocks(redis, ttl_seconds=0.3)
    assert await locks.acquire(key, "dead-worker")
    assert not await locks.acquire(key, new_token())
    # when the TTL passes
    while await locks.is_held(key):
        await asyncio.sleep(0.05)
    # then another worker gets it
    async with locks.hold(key):
        pass


async def test_release_never_deletes_a_lock_that_passed_to_someone_else(
    redis: ArqRedis, key: str
) -> None:
    locks = RedisLocks(redis, ttl_seconds=5)
    assert await locks.acquire(key, "new-holder")
    assert not await locks.release(key, "old-holder")
    assert (await redis.get(key)) == b"new-holder"
    assert not await locks.renew(key, "old-holder")


async def test_losing_the_lock_cancels_the_guarded_work(redis: ArqRedis, key: str) -> None:
    locks = RedisLocks(redis, ttl_seconds=0.3)
    reached_end = False
    with pytest.raises(LockLost):
        async with locks.hold(key):
            await redis.set(key, "usurper")  # as if our TTL ran out and another worker took over
            await asyncio.sleep(2)
            reached_end = True
    assert not reached_end
    assert (await redis.get(key)) == b"usurper"


async def test_in_process_locks_are_exclusive_per_key() -> None:
    locks = InProcessLocks()
    async with locks.hold("a"):
        assert await locks.is_held("a")
        with pytest.raises(LockBusy):
            async with locks.hold("a"):
                pass
        async with locks.hold("b"):
            pass
    assert not await locks.is_held("a")
