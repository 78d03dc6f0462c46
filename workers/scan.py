"""The scan job and its enqueue API: one scanner, one scan at a time, anywhere.

Two layers keep a scanner from being scanned twice at once. The arq job id `scan:<id>` makes
a second enqueue a no-op while a scan is queued or running, and the scanner lock (Redis across
machines, asyncio in embedded mode) makes the scan itself exclusive even when two jobs for the
same scanner exist, such as a job resumed after its worker died. A ScanRun is the record of
one scan: `enqueue_scan` creates it QUEUED (or returns the one already queued or running),
the job resumes a RUNNING run whose worker died, or else takes the oldest QUEUED one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from arq.worker import Retry
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from .. import events
from ..models import Scanner, ScanRun, ScanRunStatus
from ..ops import shutdown
from ..scanning.observe import record_run
from ..scanning.signature import unchanged_since_last_scan
from .config import JobsConfig, scan_job_id
from .lock import LockBusy, LockLost, Locks
from .queue import get_queue

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)

ACTIVE = (ScanRunStatus.QUEUED, ScanRunStatus.RUNNING)
FOLLOW_UPS = 5  # queued runs one job takes after its own before giving the slot back
# A scan handed back by a stopping worker runs again this soon, on another worker (the
# stopping one takes no new jobs); not 0, which would spin the in-process queue's retries.
HANDBACK_SECONDS = 1
RunScan = Callable[..., Awaitable[Any]]


class ScannerNotFound(LookupError):
    """No scanner with this id."""


async def enqueue_scan(scanner_id: int, trigger: str = "manual") -> ScanRun:
    """Queue a scan now; return its ScanRun, or the run already queued or running.

    Example: `run = await enqueue_scan(5, "manual")` from `runScanner(id: 5)`; the cron uses
    trigger "schedule", the CLI "cli". Raises ScannerNotFound.
    """
    run, _ = await enqueue_scan_run(scanner_id, trigger)
    return run


async def enqueue_scan_run(
    scanner_id: int, trigger: str = "manual", *, after_running: bool = False
) -> tuple[ScanRun, bool]:
    """`enqueue_scan`, also saying whether the run is new (False: it was already active).

    `after_running`: news from the server (push) may have come after a running scan read
    the folder, so only a QUEUED run absorbs it; a RUNNING one gets a run queued behind it.
    """
    queue = get_queue()  # before writing: no run is left queued when there is no queue
    async with in_transaction():
        # The row lock serializes two concurrent "run now" clicks (PostgreSQL; SQLite has one
        # writer anyway).
        scanner = await Scanner.filter(id=scanner_id).select_for_update().first()
        if scanner is None:
            raise ScannerNotFound(scanner_id)
        waiting = (ScanRunStatus.QUEUED,) if after_running else ACTIVE
        run = await ScanRun.filter(scanner_id=scanner_id, status__in=waiting).order_by("id").first()
        created = run is None
        if run is None:
            run = await ScanRun.create(
                scanner_id=scanner_id, status=ScanRunStatus.QUEUED, trigger=trigger
            )
    if (
        not await queue.enqueue("scan_scanner", scanner_id, job_id=scan_job_id(scanner_id))
        and created
    ):
        # The scanner's job is finishing its previous run right now and would not see this
        # one; a follow-up job waits for the lock and takes it.
        await queue.enqueue(
            "scan_scanner",
            scanner_id,
            job_id=f"{scan_job_id(scanner_id)}:{run.id}",
            defer_seconds=1,
        )
    return run, created


async def scan_scanner(ctx: dict[str, Any], scanner_id: int) -> str:
    """Job: scan one mailbox under its lock, record the run's outcome in the scanner's health.

    Enqueue through `enqueue_scan`, never directly, so a ScanRun exists for the job to take.
    Raises `Retry` while another worker holds the scanner's lock.
    """
    locks: Locks = ctx["locks"]
    config: JobsConfig = ctx.get("jobs_config") or JobsConfig()
    if shutdown.requested():  # picked just as the process began to stop: leave it to others
        raise Retry(defer=HANDBACK_SECONDS)
    try:
        async with locks.hold(config.scan_lock_key(scanner_id)):
            outcome = await _scan_locked(ctx, scanner_id)
            # A run queued while this one ran (new mail pushed meanwhile) goes next, under
            # the lock we hold, instead of waiting for its own job's lock retry (half a
            # lock TTL). Bounded, so a mailbox that never stops receiving frees the slot.
            for _ in range(FOLLOW_UPS):
                if not await ScanRun.filter(
                    scanner_id=scanner_id, status=ScanRunStatus.QUEUED
                ).exists():
                    break
                outcome = await _scan_locked(ctx, scanner_id)
            return outcome
    except shutdown.ShutdownRequested:
        # The scan stopped between batches and the lock is released (the block above has
        # exited): back into the queue at once, where another worker resumes the run.
        logger.info("scanner %s: scan handed back to the queue for shutdown", scanner_id)
        raise Retry(defer=HANDBACK_SECONDS) from None
    except LockBusy:
        logger.info("scanner %s is being scanned elsewhere; retrying later", scanner_id)
        raise Retry(defer=max(config.lock_ttl_seconds / 2, 0.5)) from None
    except LockLost:
        # Our lock expired while we stalled and another worker resumed this run; it owns it now.
        logger.error(
            "scanner %s: lock lost mid-scan, leaving the run to its new holder", scanner_id
        )
        return "lock lost"


async def _scan_locked(ctx: dict[str, Any], scanner_id: int) -> str:
    scanner = await Scanner.filter(id=scanner_id).first()
    # Holding the lock, a RUNNING run can only be an orphan of a dead worker: resume it first.
    run = await ScanRun.filter(scanner_id=scanner_id, status__in=ACTIVE).order_by("id").first()
    if scanner is None or run is None:
        return "nothing queued"
    unattended = run.trigger in ("schedule", "push") and run.status == ScanRunStatus.QUEUED
    if unattended and not scanner.active:
        await _finish(
            run, ScanRunStatus.FAILED, "Scanner was deactivated before this scheduled scan started"
        )
        return "deactivated"
    now = datetime.now(UTC)
    # The interval's safety-net scan first asks the cheap question (one STATUS per folder):
    # an unchanged mailbox costs that round trip, not a scan.
    if run.trigger == "schedule" and unattended and await unchanged_since_last_scan(scanner):
        await Scanner.filter(id=scanner_id).update(last_scan_at=now)
        await _finish(run, ScanRunStatus.UNCHANGED, None)
        return "unchanged"
    await Scanner.filter(id=scanner_id).update(last_scan_at=now)
    if run.status == ScanRunStatus.QUEUED:
        await ScanRun.filter(id=run.id).update(status=ScanRunStatus.RUNNING, started_at=now)
    run_scan: RunScan = ctx.get("run_scan") or _default_run_scan()
    extra = {"settings": ctx["settings"]} if ctx.get("settings") is not None else {}
    try:
        # The pipeline records the outcome (run status, scanner health) itself ...
        await run_scan(scanner_id, scan_run_id=run.id, trigger=run.trigger, **extra)
    except shutdown.ShutdownRequested:
        raise  # the run stays RUNNING for the next worker (ops/shutdown.py)
    except Exception as exc:  # noqa: BLE001 — one failing mailbox is recorded, never fatal
        # ... unless it crashed before it could.
        logger.warning("scan of scanner %s failed: %s", scanner_id, exc, exc_info=True)
        await run.refresh_from_db()
        if run.status in ACTIVE:
            await _finish(run, ScanRunStatus.FAILED, str(exc) or type(exc).__name__)
            await record_health(scanner_id, run)
    await run.refresh_from_db()
    return str(run.status.value)


def _default_run_scan() -> RunScan:
    from ..scanning.pipeline import run_scan  # imported late: the pipeline is the heavy part

    return cast(RunScan, run_scan)


async def _finish(run: ScanRun, status: ScanRunStatus, error: str | None) -> None:
    await ScanRun.filter(id=run.id).update(
        status=status, error=error, finished_at=datetime.now(UTC)
    )
    await run.refresh_from_db()
    record_run(run)
    await events.publish(
        events.scan_run_channel(run.id),
        {
            "scan_run_id": run.id,
            "status": status.value,
            "processed": run.processed,
            "total": run.total,
            "counts": run.counts,
            "error": error,
            "finished": True,
        },
    )


async def record_health(scanner_id: int, run: ScanRun) -> None:
    """Write a finished run into the scanner's health: last success/error, failure streak.

    Only for runs the pipeline could not finish itself (it writes health for its own)."""
    if run.status == ScanRunStatus.SUCCEEDED:
        await Scanner.filter(id=scanner_id).update(
            last_success_at=run.finished_at or datetime.now(UTC), last_error=None, failure_count=0
        )
    elif run.status == ScanRunStatus.FAILED:
        await Scanner.filter(id=scanner_id).update(
            last_error=run.error or "Scan failed", failure_count=F("failure_count") + 1
        )


@contextlib.asynccontextmanager
async def scanner_lock(
    settings: Settings, scanner_id: int, config: JobsConfig | None = None
) -> AsyncIterator[None]:
    """Hold a scanner's lock outside a job, as `mailscanner scan` should around `run_scan`.

    With REDIS_URL it is the very lock the workers take (with its heartbeat), so a foreground
    scan never overlaps a worker's; raises LockBusy while a worker is scanning that mailbox.
    Without Redis no lock spans processes and this holds nothing: the pipeline's per-message
    log keys still keep a concurrent `serve` scan from processing a mail twice.
    """
    if settings.redis_url is None:
        yield
        return
    from redis.asyncio import Redis

    from .lock import RedisLocks

    config = config or JobsConfig.from_env()
    client = Redis.from_url(settings.redis_url)
    try:
        async with RedisLocks(client, config.lock_ttl_seconds).hold(
            config.scan_lock_key(scanner_id)
        ):
            yield
    finally:
        await client.aclose()
