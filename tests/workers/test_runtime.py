from __future__ import annotations

from dataclasses import replace

from arq.connections import ArqRedis

from mailscanner import events
from mailscanner.models import Rule, Scanner, ScanRun, ScanRunStatus
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import ArqQueue, get_queue, set_queue
from mailscanner.workers.redis_events import RedisBroker
from mailscanner.workers.runtime import start_api_queue, start_embedded, start_for_api
from mailscanner.workers.schedule import scanner_activation_changed

from .fixtures import REDIS_URL


async def test_without_redis_the_api_runs_jobs_in_process_and_stops_cleanly(db: Settings) -> None:
    stop = await start_for_api(db)
    try:
        assert isinstance(get_queue(), InProcessQueue)
    finally:
        await stop()
    set_queue(None)


async def test_with_redis_the_api_enqueues_into_arq_and_publishes_through_redis(
    db: Settings, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    api = await start_api_queue(replace(db, redis_url=REDIS_URL), jobs_config)
    try:
        assert isinstance(get_queue(), ArqQueue)
        assert isinstance(events.get_broker(), RedisBroker)
        assert await get_queue().enqueue("scan_scanner", 1, job_id="scan:1")
        assert await redis.zcard(jobs_config.queue_name) == 1
    finally:
        await api.stop()
    assert isinstance(events.get_broker(), events.InProcessBroker)


async def test_activating_a_scanner_queues_its_first_scan_at_once(
    db: Settings, jobs_config: JobsConfig
) -> None:
    runner = await start_embedded(db, jobs_config, cron=False)
    try:
        scanner = await Scanner.create(name="support", host="imap.invalid", active=True)
        await Rule.create(
            scanner=scanner, name="r", sequence=1, folders=[], condition={}, actions=[]
        )
        await scanner_activation_changed(scanner.id, True)
        run = await ScanRun.get(scanner_id=scanner.id)
        assert run.trigger == "schedule"
        await runner.queue.join()
        await run.refresh_from_db()
        # the scan really ran: the (unresolvable) server's error is in the run and the health
        assert run.status == ScanRunStatus.FAILED and "could not be found" in (run.error or "")
        await scanner.refresh_from_db()
        assert scanner.failure_count == 1 and scanner.last_error == run.error
        # deactivation needs no job: the next tick skips the scanner
        await scanner_activation_changed(scanner.id, False)
        assert runner.queue.pending() == 0
    finally:
        await runner.stop(grace=0)


async def test_activation_without_a_queue_waits_for_the_tick_instead_of_failing(
    db: Settings,
) -> None:
    set_queue(None)
    scanner = await Scanner.create(name="support", host="imap.invalid", active=True)
    await scanner_activation_changed(scanner.id, True)
    assert not await ScanRun.exists()
