"""The scan lock's database lease (workers/lock.py `DatabaseLocks`) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from mailscanner.models import ScanLease
from mailscanner.settings import Settings
from mailscanner.workers.lock import DatabaseLocks, LockBusy, LockLost, new_token

KEY = "mailscanner:lock:scan:1"


async def test_a_held_lease_refuses_a_second_holder_until_released(db: Settings) -> None:
    locks = DatabaseLocks(ttl_seconds=5)
    async with locks.hold(KEY) as token:
        assert (await ScanLease.get(key=KEY)).owner == token
        assert await locks.holder(KEY) == token
        with pytest.raises(LockBusy):
            async with DatabaseLocks(ttl_seconds=5).hold(KEY):
                pass
    assert not await locks.is_held(KEY)
    async with locks.hold(KEY):
        pass


async def test_of_many_simultaneous_starters_exactly_one_gets_the_lease(db: Settings) -> None:
    locks = DatabaseLocks(ttl_seconds=5)
    # twice: once when the row does not exist yet (INSERT race), once when it is free (UPDATE)
    for _ in range(2):
        tokens = [new_token() for _ in range(12)]
        won = await asyncio.gather(*(locks.acquire(KEY, t) for t in tokens))
        assert sum(won) == 1
        winner = tokens[won.index(True)]
        assert await locks.holder(KEY) == winner
        assert await locks.release(KEY, winner)


async def test_a_dead_holders_lease_expires_and_is_taken_over(db: Settings) -> None:
    # given a holder that died without releasing (no heartbeat, no release)
    locks = DatabaseLocks(ttl_seconds=0.3)
    assert await locks.acquire(KEY, "host:4242:dead")
    assert not await locks.acquire(KEY, new_token())
    # when its lease runs out
    while await locks.is_held(KEY):
        await asyncio.sleep(0.05)
    # then the next starter takes it, and the dead holder can neither renew nor release it
    async with locks.hold(KEY) as token:
        assert not await locks.renew(KEY, "host:4242:dead")
        assert not await locks.release(KEY, "host:4242:dead")
        assert await locks.holder(KEY) == token


async def test_the_heartbeat_keeps_the_lease_past_its_ttl(db: Settings) -> None:
    locks = DatabaseLocks(ttl_seconds=0.3)
    async with locks.hold(KEY):
        await asyncio.sleep(1.0)  # three TTLs
        assert not await DatabaseLocks(0.3).acquire(KEY, new_token())


async def test_losing_the_lease_cancels_the_guarded_work(db: Settings) -> None:
    locks = DatabaseLocks(ttl_seconds=0.3)
    reached_end = False
    with pytest.raises(LockLost):
        async with locks.hold(KEY):
            # as if our lease ran out while we stalled and another starter took it
            await ScanLease.filter(key=KEY).update(owner="usurper")
            await asyncio.sleep(2)
            reached_end = True
    assert not reached_end
    assert (await ScanLease.get(key=KEY)).owner == "usurper"
