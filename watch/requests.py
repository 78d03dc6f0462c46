"""Scan requests from watchers, coalesced: a burst of news is one or two scans, never more.

Per scanner at most one request is on its way to the queue and at most one more waits
behind it, however many folders report however much. The queue coalesces again: news joins
a run still QUEUED, and a RUNNING scan (which may have read the folder before the news)
gets one run queued behind it (`enqueue_scan_run(after_running=True)`); the scanner lock
keeps two scans from ever running at once. A request that fails to enqueue is logged and
dropped: the interval's safety-net scan finds that mail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def enqueue_push_scan(scanner_id: int) -> None:
    from ..workers.scan import enqueue_scan_run  # late: the workers layer imports watchers

    await enqueue_scan_run(scanner_id, "push", after_running=True)


class ScanRequests:
    def __init__(self, enqueue: Callable[[int], Awaitable[None]] = enqueue_push_scan) -> None:
        self._enqueue = enqueue
        self._running: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self.requested = 0  # news reported (tests, bench)
        self.enqueued = 0  # enqueue calls made after coalescing

    def request(self, scanner_id: int) -> None:
        self.requested += 1
        if scanner_id in self._running:
            self._again.add(scanner_id)
            return
        self._running[scanner_id] = asyncio.create_task(
            self._send(scanner_id), name=f"push scan request {scanner_id}"
        )

    async def _send(self, scanner_id: int) -> None:
        try:
            while True:
                self._again.discard(scanner_id)
                self.enqueued += 1
                try:
                    await self._enqueue(scanner_id)
                except Exception:  # noqa: BLE001 — the safety-net scan catches up
                    logger.warning("could not request a scan of %s", scanner_id, exc_info=True)
                if scanner_id not in self._again:
                    return
        finally:
            del self._running[scanner_id]

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
