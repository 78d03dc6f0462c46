"""Scan requests are coalesced per scanner: one on its way, at most one more behind it."""

from __future__ import annotations

import asyncio

from mailscanner.watch.requests import ScanRequests


async def test_a_hundred_requests_during_a_slow_enqueue_are_two_enqueues() -> None:
    calls: list[int] = []
    release = asyncio.Event()

    async def enqueue(scanner_id: int) -> None:
        calls.append(scanner_id)
        await release.wait()

    requests = ScanRequests(enqueue)
    requests.request(7)
    await asyncio.sleep(0.01)  # the first enqueue is on its way (and slow)
    for _ in range(99):
        requests.request(7)
    requests.request(8)
    await asyncio.sleep(0.01)
    release.set()
    for _ in range(100):
        await asyncio.sleep(0)
    assert sorted(calls) == [7, 7, 8]
    assert requests.requested == 101
    # later news asks again
    requests.request(7)
    await asyncio.sleep(0.01)
    assert calls.count(7) == 3
    await requests.close()


async def test_a_failing_enqueue_is_dropped_and_the_next_request_still_goes() -> None:
    calls = 0

    async def enqueue(scanner_id: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("redis away")

    requests = ScanRequests(enqueue)
    requests.request(1)
    await asyncio.sleep(0.01)
    requests.request(1)
    await asyncio.sleep(0.01)
    assert calls == 2
    await requests.close()
