"""Gauges read at scrape time: how deep the outbox and the job queue are right now.

Prometheus calls `collect()` from a thread (the port server's, or the thread `/metrics`
hands the rendering to), never on the event loop; the sampler, a coroutine that reads the
database and Redis, runs on the process's loop through `run_coroutine_threadsafe`. A sample
that takes over `SAMPLE_TIMEOUT` seconds (a database down) leaves those gauges out of the
scrape rather than blocking it.

Every process samples the same shared queue, so across processes use max(), not sum().
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metrics import REGISTRY

logger = logging.getLogger(__name__)
SAMPLE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Depths:
    outbox: dict[str, int] = field(default_factory=dict)  # status -> rows
    jobs: int | None = None  # jobs queued or running (None: no queue in this process)


Sampler = Callable[[], Coroutine[Any, Any, Depths]]


class QueueDepth(Collector):
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sampler: Sampler | None = None

    def describe(self) -> list[Metric]:
        return []  # sampled at collect time only; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        depths = self._sample()
        if depths is None:
            return
        outbox = GaugeMetricFamily(
            "mailscanner_outbox_emails", "Comment emails waiting in the outbox, by status "
            "(queued: waiting or deferred for a retry; sending: an attempt in progress)",
            labels=["status"])
        for status, rows in sorted(depths.outbox.items()):
            outbox.add_metric([status], rows)
        yield outbox
        if depths.jobs is not None:
            yield GaugeMetricFamily(
                "mailscanner_job_queue_depth", "Jobs queued or running (the arq queue on "
                "Redis, or the in-process queue of the embedded mode)", value=depths.jobs)

    def _sample(self) -> Depths | None:
        loop, sampler = self.loop, self.sampler
        if loop is None or sampler is None or loop.is_closed() or not loop.is_running():
            return None
        future = asyncio.run_coroutine_threadsafe(sampler(), loop)
        try:
            depths: Depths = future.result(timeout=SAMPLE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 — a scrape must answer anyway
            future.cancel()  # a sample stuck on a dead database must not pile up
            logger.warning("queue depth sample failed: %s", type(exc).__name__)
            return None
        return depths


QUEUE_DEPTH = QueueDepth()
REGISTRY.register(QUEUE_DEPTH)


def install(sampler: Sampler | None) -> None:
    """Sample with `sampler` on the running loop from now on (None stops sampling)."""
    QUEUE_DEPTH.sampler = sampler
    QUEUE_DEPTH.loop = asyncio.get_running_loop() if sampler is not None else None
