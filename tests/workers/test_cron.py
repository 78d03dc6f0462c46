from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix

from mailscanner.models import DeliveryStatus, OutboundEmail, Scanner, ScanRun, ScanRunStatus
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.cron import (
    MemoryTickJournal,
    effective_interval,
    is_due,
    sweep_outbound_jobs,
    tick_scanners,
)
from mailscanner.workers.queue import ArqQueue, set_queue
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded

from ..fixtures.smtp import OutboxScene
from .fixtures import run_burst_worker

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PROD = JobsConfig()  # 60 s ticks, 60 s minutes, 60 min backoff cap


def scanner(**kw: Any) -> Scanner:
    fields = {
        "name": "s",
        "host": "h",
        "active": True,
        "scan_interval_minutes": 5,
        "failure_count": 0,
    }
    return Scanner(**{**fields, **kw})


def test_a_never_scanned_active_scanner_is_due() -> None:
    assert is_due(scanner(last_scan_at=None), NOW, PROD)


def test_an_inactive_scanner_is_never_due() -> None:
    assert not is_due(scanner(active=False, last_scan_at=None), NOW, PROD)


def test_a_scanner_is_due_once_its_interval_has_elapsed() -> None:
    assert not is_due(scanner(last_scan_at=NOW - timedelta(minutes=3)), NOW, PROD)
    assert is_due(scanner(last_scan_at=NOW - timedelta(minutes=5)), NOW, PROD)


def test_a_scan_that_started_seconds_after_its_tick_keeps_the_five_minute_pace() -> None:
    # started 4 s after the 11:55 tick; the 12:00 tick must still take it
    assert is_due(
        scanner(last_scan_at=NOW - timedelta(minutes=5) + timedelta(seconds=4)), NOW, PROD
    )


def test_consecutive_failures_double_the_interval_up_to_the_cap() -> None:
    assert effective_interval(scanner(failure_count=0), PROD) == timedelta(minutes=5)
    assert effective_interval(scanner(failure_count=1), PROD) == timedelta(minutes=10)
    assert effective_interval(scanner(failure_count=3), PROD) == timedelta(minutes=40)
    assert effective_interval(scanner(failure_count=4), PROD) == timedelta(minutes=60)
    assert effective_interval(scanner(failure_count=500), PROD) == timedelta(minutes=60)
    # an interval above the cap is never shortened by backing off
    assert effective_interval(
        scanner(scan_interval_minutes=120, failure_count=2), PROD
    ) == timedelta(minutes=120)


def test_a_failing_scanner_waits_its_backed_off_interval() -> None:
    failing = scanner(failure_count=2, last_scan_at=NOW - timedelta(minutes=15))
    assert not is_due(failing, NOW, PROD)
    assert is_due(failing, NOW + timedelta(minutes=5), PROD)


async def fake_scan(
    scanner_id: int, scan_run_id: int | None = None, *, trigger: str = "manual", **kw: Any
) -> ScanRun:
    """Stands in for the pipeline's run_scan, which records health the same way."""
    run = await ScanRun.get(id=scan_run_id)
    scanner = await Scanner.get(id=scanner_id)
    if scanner.host == "broken.invalid":
        raise ConnectionRefusedError("connection refused by broken.invalid")  # as a crash would
    run.status = ScanRunStatus.SUCCEEDED
    run.finished_at = datetime.now(UTC)
    await run.save()
    await Scanner.filter(id=scanner_id).update(
        last_success_at=run.finished_at, last_error=None, failure_count=0
    )
    return run


@pytest.fixture
async def runner(db: Settings, jobs_config: JobsConfig) -> AsyncIterator[EmbeddedRunner]:
    runner = await start_embedded(db, jobs_config, cron=False)
    runner.queue.ctx["run_scan"] = fake_scan
    yield runner
    await runner.stop(grace=0)


async def tick(runner: EmbeddedRunner, slot: datetime) -> dict[str, Any]:
    ctx = {**runner.queue.ctx, "score": int(slot.timestamp() * 1000)}
    summary = await tick_scanners(ctx)
    await runner.queue.join()
    return summary


async def test_a_tick_scans_due_scanners_and_a_failing_mailbox_delays_no_other(
    runner: EmbeddedRunner,
) -> None:
    # given three active scanners, one of them unreachable, and an inactive one
    ok1 = await Scanner.create(name="ok1", host="imap.example.com", active=True)
    bad = await Scanner.create(name="bad", host="broken.invalid", active=True)
    ok2 = await Scanner.create(name="ok2", host="imap.example.com", active=True)
    off = await Scanner.create(name="off", host="imap.example.com", active=False)
    start = datetime.now(UTC)
    # when the scheduler ticks
    summary = await tick(runner, start)
    # then every active scanner got a run, the healthy ones succeeded
    assert set(summary["runs"]) == {str(ok1.id), str(bad.id), str(ok2.id)}
    for s in (ok1, ok2):
        await s.refresh_from_db()
        assert s.last_success_at is not None and s.failure_count == 0 and s.last_error is None
    await bad.refresh_from_db()
    assert bad.failure_count == 1 and "connection refused" in (bad.last_error or "")
    assert not await ScanRun.filter(scanner_id=off.id).exists()
    failed_run = await ScanRun.get(scanner_id=bad.id)
    assert failed_run.status == ScanRunStatus.FAILED and failed_run.finished_at is not None


async def test_the_next_ticks_follow_the_interval_and_back_off_the_failing_scanner(
    runner: EmbeddedRunner, jobs_config: JobsConfig
) -> None:
    # interval 1 "minute" = 1 s in this config; ticks every second
    ok = await Scanner.create(
        name="ok", host="imap.example.com", active=True, scan_interval_minutes=1
    )
    bad = await Scanner.create(
        name="bad", host="broken.invalid", active=True, scan_interval_minutes=1
    )
    t0 = datetime.now(UTC)
    for second in range(8):
        slot = t0 + timedelta(seconds=second)
        summary = await tick(runner, slot)
        # the ticks are simulated faster than real time: stamp each scan with its tick's time
        await Scanner.filter(id__in=[int(i) for i in summary["runs"]]).update(last_scan_at=slot)
    assert await ScanRun.filter(scanner_id=ok.id).count() == 8
    # failures at t=0, 2 (after 1 failure: 2 s), 6 (after 2 failures: 4 s)
    assert await ScanRun.filter(scanner_id=bad.id).count() == 3
    await bad.refresh_from_db()
    assert bad.failure_count == 3


async def test_a_tick_slot_fired_twice_runs_once(runner: EmbeddedRunner) -> None:
    await Scanner.create(name="ok", host="imap.example.com", active=True)
    slot = datetime.now(UTC)
    first = await tick(runner, slot)
    second = await tick(runner, slot)
    assert len(first["runs"]) == 1 and second == {"slot_ms": first["slot_ms"], "duplicate": True}
    assert await ScanRun.all().count() == 1
    assert isinstance(runner.journal, MemoryTickJournal) and len(runner.journal.ticks) == 1


async def test_a_tick_sends_queued_mail_whose_job_was_lost_exactly_once(
    outbox_scene: OutboxScene, jobs_config: JobsConfig
) -> None:
    # given a comment email committed to the outbox, whose send job never reached a queue
    _, outbound = await outbox_scene.comment("The part arrives Monday.")
    assert outbound is not None
    runner = await start_embedded(outbox_scene.settings, jobs_config, cron=False)
    try:
        # when the scheduler ticks twice
        first = await tick(runner, datetime.now(UTC))
        second = await tick(runner, datetime.now(UTC) + timedelta(seconds=1))
    finally:
        await runner.stop(grace=0)
    # then the mail went out once and is marked sent
    assert first["outbound_requeued"] == 1 and second["outbound_requeued"] == 0
    assert len(outbox_scene.server.received()) == 1
    row = await OutboundEmail.get(id=outbound.id)
    assert row.status == DeliveryStatus.SENT


async def test_the_sweep_frees_the_send_job_of_a_worker_that_died_mid_send(
    outbox_scene: OutboxScene, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    # given a mail whose worker claimed it (SENDING, lease now expired) and then died, leaving
    # its arq job marked in progress
    _, outbound = await outbox_scene.comment("The part arrives Monday.")
    assert outbound is not None
    await OutboundEmail.filter(id=outbound.id).update(
        status=DeliveryStatus.SENDING,
        attempts=1,
        next_attempt_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    queue = ArqQueue(redis, jobs_config)
    set_queue(queue)
    try:
        assert await queue.enqueue("send_outbound", outbound.id, job_id=f"send:{outbound.id}")
        in_progress = in_progress_key_prefix + jobs_config.job_id(f"send:{outbound.id}")
        await redis.set(in_progress, b"1")
        # when the tick sweeps the outbox
        assert await sweep_outbound_jobs() == 0  # the job still exists: nothing new to enqueue ...
        # ... but it can be taken again, and a worker sends the mail once
        assert not await redis.exists(in_progress)
        await run_burst_worker(redis, jobs_config, outbox_scene.settings)
    finally:
        set_queue(None)
    assert (await OutboundEmail.get(id=outbound.id)).status == DeliveryStatus.SENT
    assert len(outbox_scene.server.received()) == 1
