"""SIGTERM to a `mailscanner watch` process: it closes its IDLE connections, gives its leases
back and exits 0; the other watcher takes its scanners over at its next tick, well before
the leases would have expired (real processes, Redis, PostgreSQL, Dovecot)."""
# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from mailscanner.models import PushState, PushStatus
from mailscanner.settings import Settings
from mailscanner.watch.leases import WATCH_MEMBERS_KEY
from mailscanner.workers.config import JobsConfig

from ..fixtures.dovecot import DovecotServer
from ..watch.fixtures import push_dovecot  # noqa: F401
from ..workers.cluster import cluster_env, shared_database_url, shared_db, wait_until  # noqa: F401
from ..workers.fixtures import jobs_config as _jobs_config  # noqa: F401
from ..workers.fixtures import redis  # noqa: F401
from .test_push_embedded import watched_scanner
from .test_push_redis import Processes, lease_holders

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres_only]
LEASE_SECONDS = 120  # longer than the test waits: only a release hands a scanner over


@pytest.fixture
def jobs_config(_jobs_config: JobsConfig) -> JobsConfig:
    return JobsConfig(prefix=_jobs_config.prefix, scan_timeout_seconds=60)


@pytest.fixture
def processes(shared_db: Settings, jobs_config: JobsConfig, tmp_path: Path) -> Iterator[Processes]:
    env = cluster_env(shared_db, jobs_config)
    env.update(MAILSCANNER_WATCH_LEASE_SECONDS=str(LEASE_SECONDS),
               MAILSCANNER_WATCH_TICK_SECONDS="1", MAILSCANNER_SHUTDOWN_SECONDS="15")
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop()


async def test_a_stopped_watcher_hands_its_scanners_over_at_once(
    shared_db: Settings,
    push_dovecot: DovecotServer,
    redis: ArqRedis,
    jobs_config: JobsConfig,
    processes: Processes,
) -> None:
    # given six watched scanners and two watcher processes, both members of the ring
    users = [push_dovecot.add_user() for _ in range(6)]
    scanners = [await watched_scanner(u) for u in users]
    started = [processes.start("watch"), processes.start("watch")]
    members_key = jobs_config.prefix + WATCH_MEMBERS_KEY

    async def both_members_and_all_idling() -> bool:
        members = {int(m.decode().split(":")[1]) for m in await redis.zrange(members_key, 0, -1)}
        holders = await lease_holders(redis, jobs_config, scanners)
        idling = await PushStatus.filter(state=PushState.IDLING).count()
        return (members == {p.pid for p in started} and 0 not in holders
                and idling == len(scanners))

    await wait_until(both_members_and_all_idling, "both watchers up and every scanner idling",
                     on_fail=processes.logs)
    # when the watcher holding the most leases gets SIGTERM (the hash ring may give one of
    # them all six: the other must then take over every one)
    holders = await lease_holders(redis, jobs_config, scanners)
    first = max(started, key=lambda p: holders.count(p.pid))
    second = next(p for p in started if p is not first)
    first.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(first.wait, 30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the watcher did not exit\n{processes.logs()}") from None
    # then it exited cleanly and holds no lease any more (given back, not expired)
    assert code == 0, processes.logs()
    assert first.pid not in await lease_holders(redis, jobs_config, scanners)

    # and the other watcher takes every scanner over (leases of two minutes: not by expiry)
    async def taken_over() -> bool:
        holders = await lease_holders(redis, jobs_config, scanners)
        idling = await PushStatus.filter(state=PushState.IDLING).count()
        return set(holders) == {second.pid} and idling == len(scanners)

    await wait_until(taken_over, "the other watcher to take over", limit=30,
                     on_fail=processes.logs)
    assert second.poll() is None
