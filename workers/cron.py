"""The scheduler tick: every minute, queue each due scanner and recover anything lost.

A scanner is due when its interval has elapsed since its last scan started; consecutive
failures stretch that interval exponentially, capped, so a broken mailbox is retried ever
more gently while the others keep their pace. The tick only enqueues (a few milliseconds per
scanner); scans run as separate jobs, so one slow or failing mailbox never delays another.
Every firing also (2) re-enqueues runs whose job was lost and resumes runs whose worker
died, and (3) sweeps the outbox for queued mail whose send job was lost.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ..models import Scanner, ScanRun, ScanRunStatus
from .config import JobsConfig, scan_job_id
from .queue import get_queue
from .scan import ACTIVE, enqueue_scan

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .lock import Locks

logger = logging.getLogger(__name__)

MAX_BACKOFF_EXPONENT = 16  # 2**16 intervals is past any sane cap; keeps the float finite


def effective_interval(scanner: Scanner, config: JobsConfig) -> timedelta:
    """The scanner's interval, doubled per consecutive failure, capped at max_backoff."""
    base = max(float(scanner.scan_interval_minutes), 0.0)
    minutes = base
    if scanner.failure_count > 0:
        stretched = base * 2 ** min(scanner.failure_count, MAX_BACKOFF_EXPONENT)
        minutes = min(stretched, max(base, config.max_backoff_minutes))
    return timedelta(seconds=minutes * config.minute_seconds)


def is_due(scanner: Scanner, now: datetime, config: JobsConfig) -> bool:
    """True when an active scanner's (backed-off) interval has elapsed at tick time `now`.

    Half a tick of slack: a scan starts a moment after its tick, and without slack a 5-minute
    interval would slip to 6 minutes every time.
    """
    if not scanner.active:
        return False
    if scanner.last_scan_at is None:
        return True
    slack = timedelta(seconds=config.tick_seconds / 2)
    return now - scanner.last_scan_at >= effective_interval(scanner, config) - slack


class TickJournal(Protocol):
    async def claim(self, slot_ms: int) -> bool:
        """True the first time a tick slot is claimed; False for a duplicate firing."""
        ...

    async def record(self, slot_ms: int, summary: dict[str, Any]) -> None: ...


class RedisTickJournal:
    """`<prefix>mailscanner:tick:<slot ms>` = the tick's summary, kept an hour for operators.

    arq can fire one cron slot twice when a worker's loop lags (its duplicate waits out arq's
    60 s in-progress guard and runs late); the NX claim turns the late copy into a no-op.
    """

    def __init__(self, redis: Redis, config: JobsConfig) -> None:
        self.redis = redis
        self.config = config

    async def claim(self, slot_ms: int) -> bool:
        return bool(await self.redis.set(self.config.tick_key(slot_ms), "{}", nx=True, ex=3600))

    async def record(self, slot_ms: int, summary: dict[str, Any]) -> None:
        await self.redis.set(
            self.config.tick_key(slot_ms), json.dumps(summary), xx=True, keepttl=True
        )


class MemoryTickJournal:
    """Embedded mode: the cron loop fires each slot once; keep the last summaries."""

    def __init__(self, keep: int = 100) -> None:
        self.ticks: deque[dict[str, Any]] = deque(maxlen=keep)
        self._claimed: deque[int] = deque(maxlen=keep)

    async def claim(self, slot_ms: int) -> bool:
        if slot_ms in self._claimed:
            return False
        self._claimed.append(slot_ms)
        return True

    async def record(self, slot_ms: int, summary: dict[str, Any]) -> None:
        self.ticks.append(summary)


async def tick_scanners(ctx: dict[str, Any]) -> dict[str, Any]:
    """Cron job: (1) enqueue due scanners, (2) recover lost scan jobs, (3) sweep the outbox,
    (4) once an hour, delete attachment blobs no row references."""
    config: JobsConfig = ctx.get("jobs_config") or JobsConfig()
    slot_ms = int(ctx.get("score") or datetime.now(UTC).timestamp() * 1000)
    journal: TickJournal | None = ctx.get("journal")
    if journal is not None and not await journal.claim(slot_ms):
        return {"slot_ms": slot_ms, "duplicate": True}
    now = datetime.fromtimestamp(slot_ms / 1000, UTC)
    summary: dict[str, Any] = {"slot_ms": slot_ms, "runs": {}, "errors": {}}
    # 1. due scanners; one bad row is logged and skipped, never stops the loop
    for scanner in await Scanner.filter(active=True):
        if not is_due(scanner, now, config):
            continue
        try:
            run = await enqueue_scan(scanner.id, "schedule")
        except Exception as exc:  # noqa: BLE001
            logger.exception("tick: could not enqueue scanner %s", scanner.id)
            summary["errors"][str(scanner.id)] = str(exc)
            continue
        summary["runs"][str(scanner.id)] = run.id
    # 2. runs whose job vanished or whose worker died
    summary["recovered"] = await recover_scan_runs(ctx["locks"], config)
    # 3. outbox
    summary["outbound_requeued"] = await _sweep_outbound()
    # 4. attachment blobs nothing references (rolled-back scans), once an hour
    if now.minute == BLOB_SWEEP_MINUTE:
        summary["blobs_removed"] = await _sweep_blobs(ctx)
    if journal is not None:
        await journal.record(slot_ms, summary)
    return summary


async def recover_scan_runs(locks: Locks, config: JobsConfig) -> list[int]:
    """Re-enqueue every scanner with a queued/running run; free the jobs of dead workers."""
    queue = get_queue()
    recovered: list[int] = []
    rows = (
        await ScanRun.filter(status__in=ACTIVE).order_by("id").values("id", "scanner_id", "status")
    )
    for scanner_id in dict.fromkeys(row["scanner_id"] for row in rows):
        running = [
            r["id"]
            for r in rows
            if r["scanner_id"] == scanner_id and r["status"] == ScanRunStatus.RUNNING
        ]
        # Re-read: a run that ended between our two reads is not an orphan.
        if (
            running
            and not await locks.is_held(config.scan_lock_key(scanner_id))
            and await ScanRun.filter(id__in=running, status=ScanRunStatus.RUNNING).exists()
        ):
            logger.warning(
                "scanner %s: resuming run %s, its worker stopped", scanner_id, running[0]
            )
            await queue.reclaim(scan_job_id(scanner_id))
            recovered.append(running[0])
        await queue.enqueue("scan_scanner", scanner_id, job_id=scan_job_id(scanner_id))
    return recovered


BLOB_SWEEP_MINUTE = 17  # of every hour: walking the whole blob store each minute is waste


async def _sweep_blobs(ctx: dict[str, Any]) -> int:
    from ..storage.attachments import default_policy, policy_for, sweep_unreferenced

    settings = ctx.get("settings")
    try:
        return await sweep_unreferenced(policy_for(settings) if settings else default_policy())
    except Exception:  # noqa: BLE001 — housekeeping must not stop the scanners' schedule
        logger.exception("tick: attachment blob sweep failed")
        return 0


async def _sweep_outbound() -> int:
    try:
        return await sweep_outbound_jobs()
    except Exception:  # noqa: BLE001 — a broken outbox must not stop the scanners' schedule
        logger.exception("tick: outbound sweep failed")
        return 0


async def sweep_outbound_jobs() -> int:
    """Enqueue `send_outbound` for every due outbox row; returns how many were enqueued.

    A SENDING row whose lease ran out was being sent by a worker that died; arq would keep its
    job "in progress" for the whole job timeout, so that mark is dropped first. The row's claim
    (one conditional UPDATE) still keeps any live runner from sending it twice.
    """
    # late: keeps the mail stack out of scheduler imports
    from ..models import DeliveryStatus, OutboundEmail
    from ..outbound.outbox import sweep_outbound
    from .send import send_job_id

    queue = get_queue()
    due = await sweep_outbound()
    if not due:
        return 0
    sending = OutboundEmail.filter(id__in=due, status=DeliveryStatus.SENDING)
    dead = {int(row["id"]) for row in await sending.values("id")}
    count = 0
    for outbound_id in due:
        if outbound_id in dead:
            await queue.reclaim(send_job_id(outbound_id))
        if await queue.enqueue("send_outbound", outbound_id, job_id=send_job_id(outbound_id)):
            count += 1
    return count
