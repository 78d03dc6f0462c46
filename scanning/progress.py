"""Live progress of a scan run: counts on the ScanRun row plus events, at a sensible rate."""

from __future__ import annotations

import time
from collections import Counter

from .. import events
from ..models import COUNT_NAMES, ScanRun, empty_counts

__all__ = ["Progress"]

FLUSH_SECONDS = 0.5  # at most two row updates + events per second


class Progress:
    """Accumulates counts; `flush()` writes the row and publishes when due (or forced)."""

    def __init__(self, run: ScanRun, *, resume: bool = False) -> None:
        """`resume`: go on from the counts the run's earlier holder wrote (a stalled or dead
        worker's run), so the run ends with what it did in total, not only its last part."""
        self.run = run
        self.counts = empty_counts()
        if resume:
            for name, value in (run.counts or {}).items():
                if name in self.counts and isinstance(value, int):
                    self.counts[name] = value
        self.processed = 0
        self.total = 0
        self._flushed_at = 0.0

    def add_total(self, n: int) -> None:
        self.total += n

    def add(self, counts: Counter[str] | dict[str, int], processed: int = 0) -> None:
        for name, value in counts.items():
            if name in COUNT_NAMES:
                self.counts[name] += value
        self.processed += processed

    async def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._flushed_at < FLUSH_SECONDS:
            return
        self._flushed_at = now
        self.run.counts = dict(self.counts)
        self.run.processed = self.processed
        self.run.total = max(self.total, self.processed)
        await ScanRun.filter(id=self.run.id).update(
            counts=self.run.counts, processed=self.processed, total=self.run.total
        )
        await self.publish()

    async def publish(self) -> None:
        await events.publish(
            events.scan_run_channel(self.run.id),
            {
                "processed": self.run.processed,
                "total": self.run.total,
                "counts": dict(self.run.counts),
                "status": self.run.status.value,
            },
        )
