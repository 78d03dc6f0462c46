"""The enqueue API for resolvers, the CLI and jobs: one `JobQueue`, arq or in-process.

Callers never import arq: they call `get_queue().enqueue("scan_scanner", 5, job_id="scan:5")`.
With Redis configured the API process installs an `ArqQueue` (`start_api_queue`), a worker
installs one in `on_startup`; in embedded mode the in-process runner is the queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from arq.constants import in_progress_key_prefix

from ..ops import logs
from .config import JobsConfig

if TYPE_CHECKING:
    from arq.connections import ArqRedis

logger = logging.getLogger(__name__)


class QueueNotConfigured(RuntimeError):
    """No queue was installed: neither `start_embedded` nor `start_api_queue` ran."""


class JobQueue(Protocol):
    async def enqueue(
        self,
        function_name: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        """Queue a job; False when a job with this id is already queued or running."""
        ...

    async def reclaim(self, job_id: str) -> bool:
        """Make a job whose worker died runnable again now; True if anything was released."""
        ...


class ArqQueue:
    """arq behind `JobQueue`; job ids and the queue name carry the deployment prefix."""

    def __init__(self, pool: ArqRedis, config: JobsConfig | None = None) -> None:
        self.pool = pool
        self.config = config or JobsConfig()

    async def enqueue(
        self,
        function_name: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        # The request (or job) that queues this one: its id goes into the job's log lines.
        request_id = logs.current("request_id")
        extra = {"request_id": request_id} if request_id is not None else {}
        job = await self.pool.enqueue_job(
            function_name,
            *args,
            **extra,
            _job_id=self.config.job_id(job_id) if job_id else None,
            _queue_name=self.config.queue_name,
            _defer_by=defer_seconds or None,
        )
        return job is not None

    async def reclaim(self, job_id: str) -> bool:
        # arq marks a started job "in progress" for its whole timeout (an hour for scans), with
        # no heartbeat; when the holder of the scanner lock is gone, that mark is all that stops
        # another worker from resuming the job, so drop it.
        deleted = await self.pool.delete(in_progress_key_prefix + self.config.job_id(job_id))
        return bool(deleted)


_queue: JobQueue | None = None


def set_queue(queue: JobQueue | None) -> None:
    """Install the process-wide queue (None uninstalls it)."""
    global _queue
    _queue = queue


def get_queue() -> JobQueue:
    """The process-wide queue; raises QueueNotConfigured if none was installed."""
    if _queue is None:
        raise QueueNotConfigured(
            "no job queue: start the API (embedded runner or Redis) or a worker first"
        )
    return _queue
