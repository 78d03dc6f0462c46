from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import Retry

from mailscanner.models import Scanner, ScanRun, ScanRunStatus
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.cron import recover_scan_runs
from mailscanner.workers.lock import RedisLocks
from mailscanner.workers.queue import ArqQueue, set_queue
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded
from mailscanner.workers.scan import ScannerNotFound, enqueue_scan, scan_scanner

from .fixtures import run_burst_worker
from .test_cron import fake_scan


class SlowScan:
    """A scan that waits for the test's go-ahead, to observe a scan in flight."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.runs: list[int | None] = []

    async def __call__(
        self, scanner_id: int, scan_run_id: int | None = None, *, trigger: str = "manual", **kw: Any
    ) -> ScanRun:
        self.runs.append(scan_run_id)
        self.started.set()
        await self.go.wait()
        return await fake_scan(scanner_id, scan_run_id, trigger=trigger)


@pytest.fixture
async def runner(db: Settings, jobs_config: JobsConfig) -> AsyncIterator[EmbeddedRunner]:
    runner = await start_embedded(db, jobs_config, cron=False)
    runner.queue.ctx["run_scan"] = fake_scan
    yield runner
    await runner.stop(grace=0)


async def make_scanner(name: str = "support", **kw: Any) -> Scanner:
    return await Scanner.create(name=name, host="imap.example.com", **kw)


async def test_run_now_returns_the_queued_run_and_the_scan_succeeds(runner: EmbeddedRunner) -> None:
    scanner = await make_scanner()
    run = await enqueue_scan(scanner.id, "manual")
    # compared as a pair so that mypy does not narrow run.status past refresh_from_db()
    assert (run.status, run.trigger) == (ScanRunStatus.QUEUED, "manual")
    await runner.queue.join()
    await run.refresh_from_db()
    assert run.status == ScanRunStatus.SUCCEEDED and run.started_at is not None
    await scanner.refresh_from_db()
    assert scanner.last_scan_at is not None and scanner.last_success_at is not None


async def test_run_now_during_a_scan_returns_the_running_run_instead_of_a_second_one(
    runner: EmbeddedRunner,
) -> None:
    slow = SlowScan()
    runner.queue.ctx["run_scan"] = slow
    scanner = await make_scanner()
    first = await enqueue_scan(scanner.id, "manual")
    await slow.started.wait()
    again = await enqueue_scan(scanner.id, "manual")
    assert again.id == first.id and again.status == ScanRunStatus.RUNNING
    slow.go.set()
    await runner.queue.join()
    assert slow.runs == [first.id]
    assert await ScanRun.all().count() == 1


async def test_run_now_of_an_unknown_scanner_says_so(runner: EmbeddedRunner) -> None:
    with pytest.raises(ScannerNotFound):
        await enqueue_scan(999, "manual")


async def test_a_scheduled_scan_of_a_scanner_deactivated_meanwhile_never_touches_the_mailbox(
    runner: EmbeddedRunner,
) -> None:
    slow = SlowScan()
    runner.queue.ctx["run_scan"] = slow
    scanner = await make_scanner(active=True)
    await runner.queue.close()  # hold the job back: enqueue below only creates the run
    run = await ScanRun.create(scanner=scanner, status=ScanRunStatus.QUEUED, trigger="schedule")
    await Scanner.filter(id=scanner.id).update(active=False)
    result = await scan_scanner(runner.queue.ctx, scanner.id)
    assert result == "deactivated" and slow.runs == []
    await run.refresh_from_db()
    assert run.status == ScanRunStatus.FAILED and "deactivated" in (run.error or "")
    await scanner.refresh_from_db()
    assert scanner.failure_count == 0  # not a mailbox failure


async def test_a_run_left_running_by_a_dead_worker_is_resumed_not_duplicated(
    runner: EmbeddedRunner,
) -> None:
    slow = SlowScan()
    slow.go.set()
    runner.queue.ctx["run_scan"] = slow
    scanner = await make_scanner()
    orphan = await ScanRun.create(
        scanner=scanner,
        status=ScanRunStatus.RUNNING,
        trigger="schedule",
        started_at=datetime.now(UTC),
    )
    # a later enqueue returns the orphan (it is still the scanner's active run) ...
    assert (await enqueue_scan(scanner.id, "manual")).id == orphan.id
    await runner.queue.join()
    # ... and the job resumed it
    assert slow.runs == [orphan.id]
    await orphan.refresh_from_db()
    assert orphan.status == ScanRunStatus.SUCCEEDED


async def test_run_now_after_a_cli_scan_died_ends_its_run_and_scans_in_a_new_one(
    runner: EmbeddedRunner,
) -> None:
    slow = SlowScan()
    slow.go.set()
    runner.queue.ctx["run_scan"] = slow
    scanner = await make_scanner()
    # given the RUNNING run of a `mailscanner scan` that was SIGKILLed (its lease is gone)
    dead = await ScanRun.create(
        scanner=scanner, status=ScanRunStatus.RUNNING, trigger="cli", started_at=datetime.now(UTC)
    )
    # when "run now" is clicked: it is reported as the active run ...
    assert (await enqueue_scan(scanner.id, "manual")).id == dead.id
    await runner.queue.join()
    # ... then the job, holding the lock, ends it as abandoned (nobody resumes a CLI scan)
    await dead.refresh_from_db()
    assert dead.status == ScanRunStatus.FAILED and "Abandoned" in (dead.error or "")
    # and scans in a run of its own
    new = await ScanRun.exclude(id=dead.id).get()
    assert slow.runs == [new.id] and new.trigger == "recovery"
    assert new.status == ScanRunStatus.SUCCEEDED
    await scanner.refresh_from_db()
    assert scanner.failure_count == 0  # not a mailbox failure


async def test_the_job_retries_later_while_another_worker_holds_the_scanner(
    runner: EmbeddedRunner, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    scanner = await make_scanner()
    await ScanRun.create(scanner=scanner, status=ScanRunStatus.QUEUED, trigger="manual")
    locks = RedisLocks(redis, jobs_config.lock_ttl_seconds)
    ctx = {"locks": locks, "jobs_config": jobs_config, "run_scan": fake_scan}
    async with locks.hold(jobs_config.scan_lock_key(scanner.id)):
        with pytest.raises(Retry):
            await scan_scanner(ctx, scanner.id)
    assert await scan_scanner(ctx, scanner.id) == "succeeded"


async def test_recovery_frees_the_arq_job_of_a_worker_that_died_mid_scan(
    db: Settings, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    # given a scanner whose run is RUNNING, whose lock expired, and whose arq job is still
    # marked in progress by the dead worker
    queue = ArqQueue(redis, jobs_config)
    set_queue(queue)
    try:
        scanner = await make_scanner()
        await ScanRun.create(scanner=scanner, status=ScanRunStatus.RUNNING)
        job_id = jobs_config.job_id(f"scan:{scanner.id}")
        assert await queue.enqueue("scan_scanner", scanner.id, job_id=f"scan:{scanner.id}")
        await redis.set(in_progress_key_prefix + job_id, b"1")
        locks = RedisLocks(redis, jobs_config.lock_ttl_seconds)
        # when the tick's recovery runs
        recovered = await recover_scan_runs(locks, jobs_config)
        # then the job can be taken again, and a worker resumes the run
        assert len(recovered) == 1
        assert not await redis.exists(in_progress_key_prefix + job_id)
        worker = await run_burst_worker(redis, jobs_config, db, run_scan=fake_scan)
        assert worker.jobs_complete == 1
        assert (await ScanRun.get(scanner_id=scanner.id)).status == ScanRunStatus.SUCCEEDED
    finally:
        set_queue(None)


async def test_recovery_leaves_a_live_scan_alone(
    db: Settings, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    set_queue(ArqQueue(redis, jobs_config))
    try:
        scanner = await make_scanner()
        await ScanRun.create(scanner=scanner, status=ScanRunStatus.RUNNING)
        job_id = jobs_config.job_id(f"scan:{scanner.id}")
        await redis.set(in_progress_key_prefix + job_id, b"1")
        locks = RedisLocks(redis, 30)
        async with locks.hold(jobs_config.scan_lock_key(scanner.id)):
            assert await recover_scan_runs(locks, jobs_config) == []
        assert await redis.exists(in_progress_key_prefix + job_id)
    finally:
        set_queue(None)


async def test_a_foreground_scan_lock_is_the_one_workers_take(
    db: Settings, jobs_config: JobsConfig
) -> None:
    from mailscanner.models import ScanLease
    from mailscanner.workers.lock import DatabaseLocks, LockBusy
    from mailscanner.workers.scan import scan_holder, scanner_lock

    # while `mailscanner scan` holds scanner 5 ...
    async with scanner_lock(5, jobs_config) as token:
        lease = await ScanLease.get(key=jobs_config.scan_lock_key(5))
        assert lease.owner == token and await scan_holder(5, jobs_config) == token
        assert f":{os.getpid()}:" in token  # says which process scans
        # ... a worker's lock on it is refused (the workers take the same database lease)
        with pytest.raises(LockBusy):
            async with DatabaseLocks(5).hold(jobs_config.scan_lock_key(5)):
                pass
    assert await scan_holder(5, jobs_config) is None
    async with DatabaseLocks(5).hold(jobs_config.scan_lock_key(5)):
        pass  # released: free for the next starter
