"""`mailscanner worker`, run as a user runs it: a subprocess against the machine's Redis."""

from __future__ import annotations

import subprocess
import sys

from arq.connections import ArqRedis

from mailscanner.models import DeliveryStatus, Scanner, ScanRunStatus
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.queue import ArqQueue, set_queue
from mailscanner.workers.scan import enqueue_scan
from mailscanner.workers.send import send_job_id

from ..fixtures.smtp import OutboxScene
from .fixtures import worker_env


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailscanner", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_redis_url_the_worker_explains_and_exits_2(
    settings: Settings, jobs_config: JobsConfig
) -> None:
    env = worker_env(settings, jobs_config)
    del env["REDIS_URL"]
    result = run_worker(env, "--burst")
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_with_redis_unreachable_the_worker_names_it_and_exits_2(
    settings: Settings, jobs_config: JobsConfig
) -> None:
    env = worker_env(settings, jobs_config, REDIS_URL="redis://:s3cret@127.0.0.1:1/0")
    result = run_worker(env, "--burst")
    assert result.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in result.stderr
    assert "s3cret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_a_burst_worker_runs_the_queued_scan_and_exits(
    db: Settings, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    # given a queued scan (a scanner without rules: the scan reads no folder, so needs no IMAP)
    set_queue(ArqQueue(redis, jobs_config))
    try:
        scanner = await Scanner.create(name="support", host="imap.invalid", active=True)
        run = await enqueue_scan(scanner.id, "cli")
    finally:
        set_queue(None)
    # when `mailscanner worker --burst` runs
    result = run_worker(worker_env(db, jobs_config), "--burst")
    # then the scan ran there, and the worker left when the queue was empty
    assert result.returncode == 0, result.stderr
    await run.refresh_from_db()
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert await redis.zcard(jobs_config.queue_name) == 0
    await scanner.refresh_from_db()
    assert scanner.last_success_at is not None


async def test_a_worker_sends_queued_comment_emails_over_one_smtp_login(
    outbox_scene: OutboxScene, redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    # given: three comment emails queued as send jobs
    queue = ArqQueue(redis, jobs_config)
    rows = [(await outbox_scene.comment(f"Update {n}"))[1] for n in range(3)]
    for row in rows:
        assert row is not None
        assert await queue.enqueue("send_outbound", row.id, job_id=send_job_id(row.id))
    # when `mailscanner worker --burst` runs them one at a time (jobs running at once would
    # each need a connection of their own, however slow the machine makes the worker start)
    env = worker_env(outbox_scene.settings, jobs_config, MAILSCANNER_MAX_JOBS="1")
    result = run_worker(env, "--burst")
    # then: each went out once, all over the one connection the worker kept open
    assert result.returncode == 0, result.stderr
    mails = outbox_scene.server.received()
    assert len(mails) == 3 and len({m.peer for m in mails}) == 1
    for row in rows:
        assert row is not None
        await row.refresh_from_db()
        assert row.status == DeliveryStatus.SENT
