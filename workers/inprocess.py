"""Embedded mode: arq's job functions and cron schedule, run as asyncio tasks in this process.

`mailscanner serve` without REDIS_URL uses this instead of a worker. It takes the very
`Function`s and `CronJob`s of `WorkerSettings` and honours what the jobs rely on from arq:
job ids (a second enqueue of a queued or running id is refused), deferred starts,
`Retry(defer=...)` up to `max_tries`, per-function timeouts, `max_jobs` concurrency, and a ctx
carrying `job_id`, `job_try`, `enqueue_time` and `score` (a cron job's scheduled time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arq.cron import CronJob, next_cron
from arq.worker import Function, Retry

logger = logging.getLogger(__name__)


class InProcessQueue:
    """`JobQueue` that runs registered functions as tasks of the current event loop."""

    def __init__(
        self,
        functions: Sequence[Function | CronJob],
        ctx: dict[str, Any] | None = None,
        *,
        max_jobs: int = 10,
        default_timeout: float = 300,
        default_max_tries: int = 5,
    ) -> None:
        self.functions = {f.name: f for f in functions}
        self.ctx: dict[str, Any] = ctx if ctx is not None else {}
        self.ctx.setdefault("queue", self)
        self._sem = asyncio.Semaphore(max_jobs)
        self._default_timeout = default_timeout
        self._default_max_tries = default_max_tries
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._anonymous = 0
        self.jobs_complete = self.jobs_failed = self.jobs_retried = 0

    async def enqueue(
        self,
        function_name: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        score_ms = int((time.time() + (defer_seconds or 0)) * 1000)
        return self.enqueue_at(function_name, *args, job_id=job_id, score_ms=score_ms)

    def enqueue_at(self, function_name: str, *args: Any, job_id: str | None, score_ms: int) -> bool:
        """Queue a job to start at `score_ms` (epoch ms); False if `job_id` is taken."""
        if function_name not in self.functions:
            raise KeyError(f"no job function named {function_name!r}")
        if job_id is None:
            self._anonymous += 1
            job_id = f"anon:{self._anonymous}"
        if job_id in self._jobs:
            return False
        task = asyncio.create_task(
            self._run(job_id, function_name, args, score_ms), name=f"job {job_id}"
        )
        self._jobs[job_id] = task
        return True

    async def reclaim(self, job_id: str) -> bool:
        return False  # a job here lives exactly as long as this process

    def pending(self) -> int:
        return len(self._jobs)

    async def join(self) -> None:
        """Wait until no job is queued or running (tests, `stop(drain=True)`)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def close(self, grace: float = 0.0) -> None:
        """Cancel every job; with `grace`, first give them that many seconds to finish."""
        if grace > 0 and self._jobs:
            await asyncio.wait(list(self._jobs.values()), timeout=grace)
        tasks = list(self._jobs.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job_id: str, name: str, args: tuple[Any, ...], score_ms: int) -> None:
        function = self.functions[name]
        enqueue_time = datetime.now(UTC)
        max_tries = function.max_tries or self._default_max_tries
        timeout = function.timeout_s or self._default_timeout
        try:
            for job_try in range(1, max_tries + 1):
                await asyncio.sleep(max(0.0, score_ms / 1000 - time.time()))
                ctx = {
                    **self.ctx,
                    "job_id": job_id,
                    "job_try": job_try,
                    "enqueue_time": enqueue_time,
                    "score": score_ms,
                }
                try:
                    async with self._sem:
                        await asyncio.wait_for(function.coroutine(ctx, *args), timeout)
                except Retry as retry:
                    self.jobs_retried += 1
                    score_ms = int(time.time() * 1000) + (retry.defer_score or 0)
                    logger.info(
                        "job %s: retry %d in %.2fs",
                        job_id,
                        job_try,
                        (retry.defer_score or 0) / 1000,
                    )
                    continue
                except Exception:
                    self.jobs_failed += 1
                    logger.exception("job %s (%s) failed", job_id, name)
                    return
                self.jobs_complete += 1
                return
            self.jobs_failed += 1
            logger.warning("job %s (%s): max %d tries exceeded", job_id, name, max_tries)
        finally:
            self._jobs.pop(job_id, None)


class CronLoop:
    """Fire arq `CronJob`s on their schedule by enqueueing them, as an arq worker does."""

    def __init__(self, queue: InProcessQueue, cron_jobs: Sequence[CronJob]) -> None:
        self.queue = queue
        self.cron_jobs = list(cron_jobs)
        self._task: asyncio.Task[None] | None = None
        self.fired = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cron loop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _next(self, job: CronJob, after: datetime) -> datetime:
        return next_cron(
            after,
            month=job.month,
            day=job.day,
            weekday=job.weekday,
            hour=job.hour,
            minute=job.minute,
            second=job.second,
            microsecond=job.microsecond,
        )

    async def _loop(self) -> None:
        now = datetime.now(UTC)
        due = {
            job.name: (now if job.run_at_startup else self._next(job, now))
            for job in self.cron_jobs
        }
        while True:
            name, when = min(due.items(), key=lambda item: item[1])
            await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
            job = next(j for j in self.cron_jobs if j.name == name)
            slot_ms = int(when.timestamp() * 1000)
            # Same id arq gives a unique cron job, so a slow tick is never started twice.
            job_id = job.job_id or f"{name}:{slot_ms}"
            try:
                self.queue.enqueue_at(name, job_id=job_id, score_ms=slot_ms)
                self.fired += 1
            except Exception:  # noqa: BLE001 — the schedule must survive one bad firing
                logger.exception("cron %s could not be enqueued", name)
            due[name] = self._next(job, max(when, datetime.now(UTC)))
