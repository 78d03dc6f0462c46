"""The scan job and its enqueue API: one scanner, one scan at a time, anywhere.

Two layers keep a scanner from being scanned twice at once. The arq job id `scan:<id>` makes
a second enqueue a no-op while a scan is queued or running, and the scanner lock (a lease row
in the database, workers/lock.py, the same one `mailscanner scan` takes) makes the scan itself
exclusive even when two jobs for the same scanner exist, such as a job resumed after its
worker died, or when a foreground scan runs in another process. A ScanRun is the record of
one scan: `enqueue_scan` creates it QUEUED (or returns the one already queued or running),
the job resumes a RUNNING run whose worker died, or else takes the oldest QUEUED one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from arq.worker import Retry
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from .. import events
from ..models import Scanner, ScanRun, ScanRunStatus
from ..ops import shutdown
from ..scanning.observe import record_run
from ..scanning.signature import unchanged_since_last_scan
from .config import JobsConfig, scan_job_id
from .lock import DatabaseLocks, LockBusy, LockLost, Locks
from .queue import get_queue

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
    # Holding the lock, a RUNNING run can only be an orphan of a dead process. A foreground
    # scan's is ended (nobody resumes it); a worker's is resumed first.
    abandoned = await abandon_orphans(scanner_id, ("cli",))
    run = await ScanRun.filter(scanner_id=scanner_id, status__in=ACTIVE).order_by("id").first()
    if run is None and abandoned and scanner is not None:
        # We were started for that dead run (runScanner returned it as the active one, or the
        # recovery found it): do the rest of its work in a run of our own.
        run = await ScanRun.create(
            scanner_id=scanner_id, status=ScanRunStatus.QUEUED, trigger="recovery"
        )
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
async def scanner_lock(scanner_id: int, config: JobsConfig | None = None) -> AsyncIterator[str]:
    """Hold a scanner's lock outside a job, as `mailscanner scan` does around `run_scan`.

    It is the very lease the workers take (workers/lock.py), with its heartbeat, so a
    foreground scan never overlaps a worker's or another CLI's, with or without Redis.
    Raises LockBusy while anyone else scans that mailbox; yields the lease's token.
    """
    config = config or JobsConfig.from_env()
    async with DatabaseLocks(config.lock_ttl_seconds).hold(
        config.scan_lock_key(scanner_id)
    ) as token:
        yield token


async def scan_holder(scanner_id: int, config: JobsConfig | None = None) -> str | None:
    """Who scans the scanner right now (`host:pid:token`), or None: for "busy" messages."""
    config = config or JobsConfig.from_env()
    return await DatabaseLocks(config.lock_ttl_seconds).holder(config.scan_lock_key(scanner_id))


ABANDONED = (
    "Abandoned: the process running this scan stopped mid-scan (its scan lock expired). "
    "What it committed is kept; a later scan read the rest of the mailbox."
)


async def abandon_orphans(scanner_id: int, triggers: tuple[str, ...] | None = None) -> list[int]:
    """End the RUNNING runs of a scanner whose process died: call only while holding its lock
    (then nobody else can be running them). `triggers` limits it to runs started that way.

    A dead `mailscanner scan` leaves its run RUNNING; nobody resumes a foreground scan, so the
    run ends FAILED with what it had counted, and the scanner's next scan does the rest.
    """
    runs = ScanRun.filter(scanner_id=scanner_id, status=ScanRunStatus.RUNNING)
    if triggers is not None:
        runs = runs.filter(trigger__in=triggers)
    ended = []
    for run in await runs:
        logger.warning("scanner %s: run %s was abandoned by its process", scanner_id, run.id)
        await _finish(run, ScanRunStatus.FAILED, ABANDONED)
        ended.append(run.id)
    return ended
