"""Two `mailscanner worker` processes, Redis, a real Dovecot: the scheduling guarantees.

Ten scanners, several scheduler ticks: each due scanner is scanned exactly once per tick and
never by two workers at once; a worker SIGKILLed mid-scan hands the scanner to the other once
its lock expires, and no mail is lost or processed twice.
"""

# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from arq.connections import ArqRedis
from strawberry.types import ExecutionResult

from mailscanner.models import MessageLog, MessageOutcome, Scanner, ScanRun, ScanRunStatus, Ticket
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.scan import scan_holder

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner
from ..workers.cluster import (  # noqa: F401
    WorkerCluster,
    cluster_env,
    shared_database_url,
    shared_db,
    tick_records,
    wait_until,
)
from ..workers.fixtures import jobs_config as _jobs_config  # noqa: F401
from ..workers.fixtures import redis  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres_only]


@pytest.fixture
def jobs_config(_jobs_config: JobsConfig) -> JobsConfig:  # noqa: F811
    # ticks every 3 s, a "minute" of interval is one tick, a dead worker's lock lasts 1.5 s
    return JobsConfig(
        prefix=_jobs_config.prefix,
        tick_seconds=3,
        minute_seconds=3,
        lock_ttl_seconds=1.5,
        scan_timeout_seconds=60,
    )


@pytest.fixture
def cluster(
    shared_db: Settings, jobs_config: JobsConfig, tmp_path: Path
) -> Iterator[WorkerCluster]:
    cluster = WorkerCluster(cluster_env(shared_db, jobs_config), tmp_path)
    yield cluster
    cluster.stop()


def customer_mail(user: ImapUser, subject: str) -> bytes:
    # One customer per mailbox. (The same new customer writing to two mailboxes scanned at the
    # same instant races in create-contact on PostgreSQL: reported to the scanning owner.)
    return mail(subject, sender=f"Customer <customer-of-{user.name}@example.com>")


async def mailbox_scanner(user: ImapUser, messages: int) -> Scanner:
    user.append("INBOX", [customer_mail(user, f"{user.name} request {i}") for i in range(messages)])
    scanner = await make_scanner(user, scan_interval_minutes=1)
    await add_rule(scanner, "size > 0", [TICKET])
    return scanner


def _started(run: ScanRun) -> datetime:
    assert run.started_at is not None, f"run {run.id} never started"
    return run.started_at


def assert_each_tick_had_its_own_or_the_active_run(name: str, run_ids: list[int]) -> None:
    """Each tick queued a new run for the scanner, or, while the previous tick's run was still
    queued or running (a slow machine), handed out that same run: coalesced, never a second
    one beside it. A run never comes back after a newer one (A, B, A)."""
    distinct = list(dict.fromkeys(run_ids))
    collapsed = [run for i, run in enumerate(run_ids) if i == 0 or run != run_ids[i - 1]]
    assert collapsed == distinct, f"{name}: a tick handed out an older run again: {run_ids}"
    assert distinct == sorted(distinct), f"{name}: runs out of order: {run_ids}"


async def assert_no_scan_overlaps(scanner: Scanner) -> list[ScanRun]:
    runs = sorted(await ScanRun.filter(scanner_id=scanner.id), key=_started)
    for before, after in zip(runs, runs[1:], strict=False):
        assert before.finished_at is not None and before.finished_at <= _started(after), (
            f"scanner {scanner.name}: runs {before.id} and {after.id} overlapped"
        )
    return runs


async def test_two_workers_scan_each_due_scanner_once_per_tick_and_never_concurrently(
    shared_db: Settings,
    dovecot: DovecotServer,
    redis: ArqRedis,
    jobs_config: JobsConfig,  # noqa: F811
    cluster: WorkerCluster,
) -> None:
    # given ten active scanners, each with three unread mails
    users = [dovecot.add_user() for _ in range(10)]
    scanners = [await mailbox_scanner(user, 3) for user in users]
    sent = {user.name: 3 for user in users}
    # when two workers run through four ticks, with one new mail per mailbox after each tick
    cluster.start(2)

    async def ticks_recorded(n: int) -> bool:
        return len(await tick_records(redis, jobs_config)) >= n

    async def idle() -> bool:
        return not await ScanRun.filter(
            status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
        ).exists()

    for n in range(1, 5):
        # partial, not a lambda: binds this tick's n and keeps the check typed
        await wait_until(
            functools.partial(ticks_recorded, n), f"tick {n}", on_fail=cluster.logs
        )
        await wait_until(idle, f"scans of tick {n} to finish", on_fail=cluster.logs)
        for user in users if n < 4 else []:
            user.append("INBOX", [customer_mail(user, f"{user.name} follow-up {n}")])
            sent[user.name] += 1
    # stop scheduling, let the last tick's scans end, then stop the workers
    await Scanner.all().update(active=False)
    last = len(await tick_records(redis, jobs_config))
    await wait_until(
        lambda: ticks_recorded(last + 1), "a tick after deactivation", on_fail=cluster.logs
    )
    await wait_until(idle, "the last scans to finish", on_fail=cluster.logs)
    cluster.stop()
    assert all(p.returncode == 0 for p in cluster.procs), cluster.logs()

    # then every tick gave each active scanner exactly one run of its own ...
    records = await tick_records(redis, jobs_config)
    active_ticks = [r for r in records if r["runs"]]
    assert len(active_ticks) >= 4 and not any(r["errors"] for r in records)
    for scanner in scanners:
        run_ids = [r["runs"][str(scanner.id)] for r in active_ticks]
        assert_each_tick_had_its_own_or_the_active_run(scanner.name, run_ids)
        runs = await assert_no_scan_overlaps(scanner)
        # ... every run of the scanner came from a tick, and each ran once, successfully
        assert sorted(r.id for r in runs) == sorted(set(run_ids))
        assert all(r.status == ScanRunStatus.SUCCEEDED for r in runs), [r.error for r in runs]
    # and each mail was processed exactly once: one log row, one ticket, marked read
    for user, scanner in zip(users, scanners, strict=True):
        uids = user.uids("INBOX")
        # Tortoise types values_list() as tuples even with flat=True.
        logged = cast(
            "list[int]",
            await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True),
        )
        assert sorted(logged) == uids and len(uids) == sent[user.name]
        quarantined = await MessageLog.filter(
            scanner_id=scanner.id, outcome=MessageOutcome.QUARANTINED
        ).values("uid", "reason")
        assert not quarantined, quarantined
        assert all(SEEN in flags for flags in user.flags("INBOX").values())
    assert await Ticket.all().count() == sum(sent.values())
    # every key the cluster wrote carries the test's prefix (the fixture deletes them)
    assert not [
        k
        async for k in redis.scan_iter(match="arq:*tick_scanners*")
        if jobs_config.prefix.encode() not in k
    ]


async def test_a_worker_killed_mid_scan_hands_the_scanner_to_the_other_without_losing_mail(
    shared_db: Settings,
    imap_user: ImapUser,
    redis: ArqRedis,
    jobs_config: JobsConfig,  # noqa: F811
    cluster: WorkerCluster,
) -> None:
    # given a scanner with a mailbox big enough to catch its scan in flight
    total = 3000
    scanner = await mailbox_scanner(imap_user, total)
    cluster.start(2)
    run_holder: dict[str, ScanRun] = {}

    async def scan_in_flight() -> bool:
        run = await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.RUNNING).first()
        if (
            run is not None
            and await MessageLog.filter(scanner_id=scanner.id).exists()
            and await scan_holder(scanner.id, jobs_config) is not None
        ):
            run_holder["run"] = run
            return True
        return False

    await wait_until(scan_in_flight, "a scan in progress", on_fail=cluster.logs)
    # when the worker holding the scanner's lock is SIGKILLed
    token = await scan_holder(scanner.id, jobs_config)  # the scan lock's lease names its pid
    assert token is not None
    victim_pid = int(token.split(":")[1])
    victim = cluster.by_pid(victim_pid)
    os.kill(victim_pid, signal.SIGKILL)
    victim.wait()
    interrupted = run_holder["run"]
    assert (await ScanRun.get(id=interrupted.id)).status == ScanRunStatus.RUNNING, (
        "the scan finished before the kill; use a bigger mailbox"
    )

    # then the other worker resumes the same run after the lock expired, and finishes it
    async def finished() -> bool:
        run = await ScanRun.get(id=interrupted.id)
        return run.status != ScanRunStatus.RUNNING

    await wait_until(finished, "the surviving worker to finish the scan", on_fail=cluster.logs)
    resumed = await ScanRun.get(id=interrupted.id)
    assert resumed.status == ScanRunStatus.SUCCEEDED, resumed.error
    records = await tick_records(redis, jobs_config)
    assert any(interrupted.id in r.get("recovered", []) for r in records)
    survivor = next(p for p in cluster.procs if p.pid != victim_pid)
    assert survivor.poll() is None
    # and every mail was processed exactly once
    await Scanner.filter(id=scanner.id).update(active=False)
    uids = imap_user.uids("INBOX")
    assert len(uids) == total
    logged = cast(
        "list[int]", await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    )
    assert sorted(logged) == uids
    assert await Ticket.all().count() == total
    assert not await MessageLog.filter(outcome=MessageOutcome.QUARANTINED).exists()
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())


SUBSCRIBE_PROGRESS = (
    "subscription($id: ID!) { scanRunProgress(scanRunId: $id) { status processed total } }"
)
SUBSCRIBE_TICKETS = "subscription { ticketEvents { kind ticket { title } } }"


async def test_a_scan_in_a_worker_process_streams_progress_and_ticket_events_to_the_api_process(
    shared_db: Settings,
    imap_user: ImapUser,
    redis: ArqRedis,
    jobs_config: JobsConfig,  # noqa: F811
    cluster: WorkerCluster,
) -> None:
    # given the API side wired as `start_api_queue` wires it: arq queue + Redis event broker
    from mailscanner import events
    from mailscanner.models import Role
    from mailscanner.resolvers.auth import authenticate, create_token
    from mailscanner.resolvers.context import Context
    from mailscanner.resolvers.schema import schema
    from mailscanner.workers.queue import ArqQueue, set_queue
    from mailscanner.workers.redis_events import RedisBroker
    from mailscanner.workers.scan import enqueue_scan

    scanner = await mailbox_scanner(imap_user, 300)
    await Scanner.filter(id=scanner.id).update(active=False)  # only our manual run
    broker = RedisBroker(redis, jobs_config)
    events.set_broker(broker)
    set_queue(ArqQueue(redis, jobs_config))
    try:
        context = Context(
            settings=shared_db,
            principal=await authenticate(await create_token(Role.ADMIN, "admin")),
        )
        tickets = await schema.subscribe(SUBSCRIBE_TICKETS, context_value=context)
        first_ticket = asyncio.ensure_future(tickets.__anext__())
        await asyncio.sleep(0)
        await broker._start()  # subscribed at Redis before the worker can publish
        run = await enqueue_scan(scanner.id, "manual")
        progress = await schema.subscribe(
            SUBSCRIBE_PROGRESS, variable_values={"id": str(run.id)}, context_value=context
        )
        # when a worker process runs the scan
        cluster.start(1)
        seen = [_data(r)["scanRunProgress"] async for r in progress]
        ticket_event = await asyncio.wait_for(first_ticket, 30)
        await tickets.aclose()
    finally:
        set_queue(None)
        events.set_broker(events.InProcessBroker())
        await broker.close()
    # then the API process saw the run through to the end, and the tickets it created
    assert seen[0]["status"] in ("QUEUED", "RUNNING")
    assert seen[-1] == {"status": "SUCCEEDED", "processed": 300, "total": 300}
    assert [s["processed"] for s in seen] == sorted(s["processed"] for s in seen)
    assert ticket_event.errors is None
    assert ticket_event.data is not None
    assert ticket_event.data["ticketEvents"]["kind"] == "TICKET_CREATED"
    assert "request" in ticket_event.data["ticketEvents"]["ticket"]["title"]


def _data(result: ExecutionResult) -> dict[str, Any]:
    assert result.data is not None, result.errors
    return result.data
