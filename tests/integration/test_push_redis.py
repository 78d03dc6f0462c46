"""Push with Redis: `mailscanner watch` processes beside a `mailscanner worker`, real Dovecot.

Two watcher processes share twelve scanners through Redis leases; new mail becomes tickets
with no scheduled scan (interval: an hour); a burst is at most two scans; a SIGKILLed
watcher's scanners are taken over by the other within 30 s (default lease and tick), and
deactivating a scanner through the API closes its connection in the watcher process.
"""

# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from mailscanner.models import PushState, PushStatus, Role, Scanner, ScanRun, Ticket
from mailscanner.settings import Settings
from mailscanner.watch.leases import WATCH_LEASE_KEY
from mailscanner.workers.config import JobsConfig

from ..fixtures.dovecot import DovecotServer
from ..scanning.helpers import mail
from ..watch.fixtures import connections, push_dovecot  # noqa: F401
from ..workers.cluster import cluster_env, shared_database_url, shared_db, wait_until  # noqa: F401
from ..workers.fixtures import jobs_config as _jobs_config  # noqa: F401
from ..workers.fixtures import redis  # noqa: F401
from .test_push_embedded import no_scan_pending, tickets_titled, watched_scanner

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres_only]


@pytest.fixture
def jobs_config(_jobs_config: JobsConfig) -> JobsConfig:
    # real minutes: the scanners' interval of an hour never comes due during the test
    return JobsConfig(prefix=_jobs_config.prefix, scan_timeout_seconds=60)


class Processes:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, command: str) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{command}{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mailscanner", command, "--log-level", "info"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )


@pytest.fixture
def processes(shared_db: Settings, jobs_config: JobsConfig, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(cluster_env(shared_db, jobs_config), tmp_path)
    yield procs
    procs.stop()


async def lease_holders(redis: ArqRedis, config: JobsConfig, scanners: list[Scanner]) -> list[int]:
    """The pid holding each scanner's lease (0: nobody)."""
    keys = [config.prefix + WATCH_LEASE_KEY.format(scanner_id=s.id) for s in scanners]
    values = await redis.mget(keys)
    return [int(v.decode().split(":")[1]) if v else 0 for v in values]


async def test_watcher_processes_share_the_scanners_push_new_mail_and_take_over_a_dead_one(
    shared_db: Settings,
    push_dovecot: DovecotServer,
    redis: ArqRedis,
    jobs_config: JobsConfig,
    processes: Processes,
) -> None:
    # given twelve watched scanners, a worker and two watcher processes
    users = [push_dovecot.add_user() for _ in range(12)]
    scanners = [await watched_scanner(u) for u in users]
    processes.start("worker")
    first, second = processes.start("watch"), processes.start("watch")

    async def shared_and_idling() -> bool:
        holders = await lease_holders(redis, jobs_config, scanners)
        idling = await PushStatus.filter(state=PushState.IDLING).count()
        return set(holders) == {first.pid, second.pid} and idling == len(scanners)

    await wait_until(shared_and_idling, "both watchers idling on a share", on_fail=processes.logs)
    for scanner in scanners:
        await wait_until(no_scan_pending(scanner), "catch-up scans", on_fail=processes.logs)
    # when a mail arrives in every mailbox
    for user in users:
        await asyncio.to_thread(user.append, "INBOX", [mail(f"Hello from {user.name}")])
    # then each became a ticket, through push only (the interval is an hour)
    titles = [f"Hello from {u.name}" for u in users]
    await wait_until(tickets_titled(*titles), "twelve tickets", limit=60, on_fail=processes.logs)
    assert {r.trigger for r in await ScanRun.all()} == {"push"}

    # when fifty arrive at once in one mailbox: at most two scans for them
    for scanner in scanners:
        await wait_until(no_scan_pending(scanner), "the scans to end", on_fail=processes.logs)
    burst = [f"burst {i}" for i in range(50)]
    runs_before = await ScanRun.filter(scanner_id=scanners[0].id).count()
    await asyncio.to_thread(users[0].append, "INBOX", [mail(t) for t in burst])
    await wait_until(tickets_titled(*burst), "fifty tickets", limit=60, on_fail=processes.logs)
    await wait_until(no_scan_pending(scanners[0]), "the burst's scans", on_fail=processes.logs)
    await asyncio.sleep(2)
    assert await ScanRun.filter(scanner_id=scanners[0].id).count() - runs_before <= 2

    # when the first watcher is SIGKILLed (no goodbye: its leases just stop being renewed)
    holders = await lease_holders(redis, jobs_config, scanners)
    orphaned = [s for s, pid in zip(scanners, holders, strict=True) if pid == first.pid]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    # then within 30 s the second holds every lease and idles on every mailbox
    async def taken_over() -> bool:
        return set(await lease_holders(redis, jobs_config, scanners)) == {second.pid}

    await wait_until(taken_over, "the takeover", limit=30, on_fail=processes.logs)
    user = users[scanners.index(orphaned[0])]

    async def orphan_idling() -> bool:
        row = await PushStatus.get(scanner_id=orphaned[0].id)
        return row.state == PushState.IDLING and str(second.pid) in str(row.watcher)

    await wait_until(orphan_idling, "the orphan watched again", on_fail=processes.logs)
    await asyncio.to_thread(user.append, "INBOX", [mail("After the takeover")])
    await wait_until(tickets_titled("After the takeover"), "the ticket", on_fail=processes.logs)

    # when the admin deactivates a scanner through the API (events travel through Redis)
    await deactivate(shared_db, redis, jobs_config, orphaned[0])

    async def closed() -> bool:
        return connections(push_dovecot, user.name) == 0

    await wait_until(closed, "its connection to close", limit=10, on_fail=processes.logs)
    assert await Ticket.all().count() == len(titles) + len(burst) + 1


async def deactivate(
    settings: Settings, redis: ArqRedis, config: JobsConfig, scanner: Scanner
) -> None:
    from mailscanner import events
    from mailscanner.resolvers.auth import authenticate, create_token
    from mailscanner.resolvers.context import Context
    from mailscanner.resolvers.schema import schema
    from mailscanner.workers.queue import ArqQueue, set_queue
    from mailscanner.workers.redis_events import RedisBroker

    broker = RedisBroker(redis, config)
    events.set_broker(broker)
    set_queue(ArqQueue(redis, config))
    try:
        context = Context(
            settings=settings,
            principal=await authenticate(await create_token(Role.ADMIN, "admin")),
        )
        result = await schema.execute(
            "mutation($id: ID!) { deactivateScanner(id: $id) { __typename } }",
            variable_values={"id": str(scanner.id)},
            context_value=context,
        )
        assert result.errors is None, result.errors
    finally:
        set_queue(None)
        events.set_broker(events.InProcessBroker())
        await broker.close()
