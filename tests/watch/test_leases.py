"""Watch leases on the machine's Redis: a fair share each, never a scanner twice, takeover."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis

from mailscanner.watch.leases import EveryScanner, RedisLeases, Ring
from mailscanner.workers.config import JobsConfig

SCANNERS = set(range(1, 201))


def test_the_ring_gives_each_member_a_share_and_moves_little_when_one_joins() -> None:
    two = Ring(["a", "b"])
    three = Ring(["a", "b", "c"])
    shares = {m: sum(1 for s in range(10_000) if two.owner(s) == m) for m in "ab"}
    assert all(3_000 < n < 7_000 for n in shares.values()), shares
    moved = sum(1 for s in range(10_000) if two.owner(s) != three.owner(s))
    # only what the newcomer takes moves (about a third), not a reshuffle of everything
    assert all(three.owner(s) == "c" for s in range(10_000) if two.owner(s) != three.owner(s))
    assert 1_500 < moved < 5_000
    assert Ring([]).owner(1) is None


async def test_two_processes_split_the_scanners_and_never_hold_one_twice(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    a = RedisLeases(redis, jobs_config, lease_seconds=2)
    b = RedisLeases(redis, jobs_config, lease_seconds=2)
    first = await a.claim(SCANNERS)
    assert first == SCANNERS  # alone: everything
    await b.claim(SCANNERS)  # b joins: a releases b's share at its next claim
    for _ in range(3):
        held_a, held_b = await a.claim(SCANNERS), await b.claim(SCANNERS)
        assert not held_a & held_b
    assert held_a | held_b == SCANNERS and held_a and held_b


async def test_a_silent_process_loses_its_scanners_to_the_other_after_its_lease(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    a = RedisLeases(redis, jobs_config, lease_seconds=1)
    b = RedisLeases(redis, jobs_config, lease_seconds=1)
    await a.claim(SCANNERS)
    await b.claim(SCANNERS)
    await a.claim(SCANNERS)
    assert (await b.claim(SCANNERS)) != SCANNERS
    # when a stops renewing (killed), b takes everything once a's membership and leases expire
    await asyncio.sleep(1.3)
    assert await b.claim(SCANNERS) == SCANNERS
    # and a, back from a stall, finds its renewals refused instead of watching twice
    assert not await a.claim(SCANNERS) & await b.claim(SCANNERS)


async def test_a_clean_stop_hands_over_at_once(redis: ArqRedis, jobs_config: JobsConfig) -> None:
    a = RedisLeases(redis, jobs_config, lease_seconds=30)
    b = RedisLeases(redis, jobs_config, lease_seconds=30)
    await a.claim(SCANNERS)
    await b.claim(SCANNERS)
    await a.stop()
    assert await b.claim(SCANNERS) == SCANNERS


async def test_the_embedded_mode_watches_everything() -> None:
    assert await EveryScanner().claim({1, 2}) == {1, 2}
