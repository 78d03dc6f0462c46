"""SIGTERM to a `mailscanner worker` in the middle of a 2,000-mail scan (real processes,
Redis, PostgreSQL, Dovecot): the worker finishes the batch in hand, releases the scanner's
lock at once and exits 0; the other worker resumes the same run and finishes it; every mail
is processed exactly once.

The scanner lock's TTL is a minute here, longer than the test waits: the other worker can
only resume because the stopping one released the lock, not because it expired.
"""
# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx2
import pytest
from arq.connections import ArqRedis

from mailscanner.models import (
    MessageLog,
    MessageOutcome,
    ScanLease,
    Scanner,
    ScanRun,
    ScanRunStatus,
    Ticket,
)
from mailscanner.models.message_log import SideEffects
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import free_port
from ..ops.metrics_text import parse, value
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner
from ..workers.cluster import (  # noqa: F401
    WorkerCluster,
    cluster_env,
    shared_database_url,
    shared_db,
    wait_until,
)
from ..workers.fixtures import jobs_config as _jobs_config  # noqa: F401
from ..workers.fixtures import redis  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres_only]
TOTAL = 2000
SHUTDOWN_SECONDS = 20


@pytest.fixture
def jobs_config(_jobs_config: JobsConfig) -> JobsConfig:
    return JobsConfig(
        prefix=_jobs_config.prefix,
        tick_seconds=3,
        minute_seconds=3,
        lock_ttl_seconds=60,  # never expires within the test: only a release frees it
        scan_timeout_seconds=300,
    )


@pytest.fixture
def cluster(
    shared_db: Settings, jobs_config: JobsConfig, tmp_path: Path
) -> Iterator[WorkerCluster]:
    env = cluster_env(shared_db, jobs_config)
    env.update(MAILSCANNER_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS), MAILSCANNER_LOG_FORMAT="json")
    cluster = WorkerCluster(env, tmp_path)
    yield cluster
    cluster.stop()


def _log_entries(path: Path) -> list[dict[str, object]]:
    """A worker's log: every line one JSON object (the format under test too)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_sigterm_mid_scan_hands_the_run_to_the_next_worker_losing_and_doubling_nothing(
    shared_db: Settings,
    imap_user: ImapUser,
    redis: ArqRedis,
    jobs_config: JobsConfig,  # noqa: F811
    cluster: WorkerCluster,
    tmp_path: Path,
) -> None:
    # given a scanner with 2,000 unread mails, and two workers; one takes the scan
    imap_user.append("INBOX", [mail(f"request {i}", sender=f"Customer {i} <c{i}@example.com>")
                               for i in range(TOTAL)])
    scanner = await make_scanner(imap_user, scan_interval_minutes=1)
    await add_rule(scanner, "size > 0", [TICKET])
    ports = [free_port(), free_port()]
    for port in ports:  # each worker process serves its own metrics
        cluster.start(1, "--metrics-port", str(port))
    lock_key = jobs_config.scan_lock_key(scanner.id)

    async def holder() -> str:
        """host:pid:token of the scan lock's holder (the database lease), or ''."""
        lease = await ScanLease.get_or_none(key=lock_key)
        return lease.owner if lease is not None else ""

    async def scan_in_flight() -> bool:
        return (
            await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.RUNNING).exists()
            and await MessageLog.filter(scanner_id=scanner.id).exists()
            and bool(await holder())
        )

    await wait_until(scan_in_flight, "a scan in progress", on_fail=cluster.logs)
    run = await ScanRun.get(scanner_id=scanner.id, status=ScanRunStatus.RUNNING)
    victim_pid = int((await holder()).split(":")[1])
    victim = cluster.by_pid(victim_pid)

    # when the worker holding the scan gets SIGTERM
    victim.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(victim.wait, SHUTDOWN_SECONDS + 15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not exit\n{cluster.logs()}") from None

    # then it exited cleanly, mid-scan, without ending the run or keeping the lock
    assert code == 0, cluster.logs()
    done_by_victim = await MessageLog.filter(scanner_id=scanner.id).count()
    assert 0 < done_by_victim < TOTAL, "the scan finished before the SIGTERM; use more mail"
    stopped = await ScanRun.get(id=run.id)
    assert stopped.status in (ScanRunStatus.RUNNING, ScanRunStatus.SUCCEEDED), stopped.error
    assert f":{victim_pid}:" not in await holder(), "lock not released"
    # and the batch in hand was finished: nothing it logged waits for its IMAP side effects
    assert not await MessageLog.filter(
        scanner_id=scanner.id, side_effects=SideEffects.PENDING).exists()
    victim_log = next(p for p in tmp_path.glob("worker*.log")
                      if any("stopped for shutdown" in str(e.get("message"))
                             for e in _log_entries(p)))
    assert any(e.get("scan_run_id") == run.id and e.get("scanner_id") == scanner.id
               for e in _log_entries(victim_log))

    # then the other worker resumes the same run and finishes it
    async def finished() -> bool:
        return (await ScanRun.get(id=run.id)).status != ScanRunStatus.RUNNING

    await wait_until(finished, "the other worker to finish the scan", on_fail=cluster.logs)
    resumed = await ScanRun.get(id=run.id)
    assert resumed.status == ScanRunStatus.SUCCEEDED, resumed.error
    assert resumed.processed == TOTAL and resumed.counts["tickets_created"] == TOTAL
    survivor = next(p for p in cluster.procs if p.pid != victim_pid)
    assert survivor.poll() is None
    # and the survivor's own metrics count the part of the scan it did
    port = ports[cluster.procs.index(survivor)]
    scraped = await asyncio.to_thread(
        httpx2.get, f"http://127.0.0.1:{port}/metrics", timeout=10)
    samples = parse(scraped.text)
    assert value(samples, "mailscanner_messages_processed_total", scanner_id=str(scanner.id),
                 outcome="ticket_created", reason="") == TOTAL - done_by_victim
    assert value(samples, "mailscanner_scan_runs_total", scanner_id=str(scanner.id),
                 status="succeeded") == 1
    assert value(samples, "mailscanner_shutting_down") == 0
    # and every mail was processed exactly once: one log row, one ticket, marked read
    await Scanner.filter(id=scanner.id).update(active=False)
    uids = imap_user.uids("INBOX")
    assert len(uids) == TOTAL
    logged = cast(
        "list[int]", await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    )
    assert sorted(logged) == uids
    assert await Ticket.all().count() == TOTAL
    assert not await MessageLog.filter(outcome=MessageOutcome.QUARANTINED).exists()
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())
    # and no scan run of this scanner failed on the way
    assert not await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.FAILED).exists()
