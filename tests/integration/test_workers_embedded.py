"""Embedded mode (no Redis): the same job functions and schedule inside one process.

Ten scanners on a real Dovecot through several ticks of the in-process cron: each due
scanner is scanned once per tick, never concurrently; and a runner stopped mid-scan (as when
`mailscanner serve` is restarted) loses and duplicates no mail once started again.
"""

from __future__ import annotations

import asyncio
import functools
from typing import cast

import pytest

from mailscanner.models import MessageLog, MessageOutcome, Scanner, ScanRun, ScanRunStatus, Ticket
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..scanning.helpers import SEEN
from ..workers.cluster import wait_until
from .test_workers_redis import (
    assert_each_tick_had_its_own_or_the_active_run,
    assert_no_scan_overlaps,
    customer_mail,
    mailbox_scanner,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = JobsConfig(prefix="embedded:", tick_seconds=2, minute_seconds=2, scan_timeout_seconds=60)


async def idle() -> bool:
    return not await ScanRun.filter(
        status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
    ).exists()


async def test_the_in_process_scheduler_scans_each_due_scanner_once_per_tick(
    db: Settings, dovecot: DovecotServer
) -> None:
    users = [dovecot.add_user() for _ in range(10)]
    scanners = [await mailbox_scanner(user, 3) for user in users]
    sent = {user.name: 3 for user in users}
    runner = await start_embedded(db, CONFIG)
    try:
        for n in range(1, 4):
            # partial, not a lambda: binds this tick's n and keeps the check typed
            await wait_until(functools.partial(_ticks, runner, n), f"tick {n}")
            await wait_until(idle, f"scans of tick {n}")
            for user in users if n < 3 else []:
                user.append("INBOX", [customer_mail(user, f"follow-up {n}")])
                sent[user.name] += 1
        await Scanner.all().update(active=False)
        await runner.queue.join()
    finally:
        await runner.stop()
    ticks = [t for t in runner.journal.ticks if t["runs"]]
    assert len(ticks) >= 3
    for scanner in scanners:
        run_ids = [t["runs"][str(scanner.id)] for t in ticks]
        assert_each_tick_had_its_own_or_the_active_run(scanner.name, run_ids)
        runs = await assert_no_scan_overlaps(scanner)
        assert sorted(r.id for r in runs) == sorted(set(run_ids))
        assert all(r.status == ScanRunStatus.SUCCEEDED for r in runs), [r.error for r in runs]
    for user, scanner in zip(users, scanners, strict=True):
        # Tortoise types values_list() as tuples even with flat=True.
        logged = cast(
            "list[int]",
            await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True),
        )
        assert sorted(logged) == user.uids("INBOX") and len(logged) == sent[user.name]
        assert all(SEEN in flags for flags in user.flags("INBOX").values())
    assert await Ticket.all().count() == sum(sent.values())


async def _ticks(runner: EmbeddedRunner, n: int) -> bool:
    return len(runner.journal.ticks) >= n


async def test_a_restart_mid_scan_loses_and_duplicates_no_mail(
    db: Settings, imap_user: ImapUser
) -> None:
    # given a scan in flight
    total = 3000
    scanner = await mailbox_scanner(imap_user, total)
    runner = await start_embedded(db, CONFIG)

    async def in_flight() -> bool:
        return (
            await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.RUNNING).exists()
            and await MessageLog.filter(scanner_id=scanner.id).exists()
        )

    try:
        await wait_until(in_flight, "a scan in progress")
    finally:
        # when the process stops mid-scan, without waiting for the scan (as when killed)
        await runner.stop(grace=0)
    assert await MessageLog.filter(scanner_id=scanner.id).count() < total, (
        "the scan finished before the stop; use a bigger mailbox"
    )
    # then a new start finishes the mailbox, and each mail was processed exactly once
    runner = await start_embedded(db, CONFIG)
    try:

        async def all_logged() -> bool:
            return await MessageLog.filter(scanner_id=scanner.id).count() >= total and await idle()

        await wait_until(all_logged, "the mailbox to be finished after the restart")
        await Scanner.filter(id=scanner.id).update(active=False)
        await runner.queue.join()
    finally:
        await runner.stop()
    await asyncio.sleep(0)
    logged = cast(
        "list[int]", await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    )
    assert sorted(logged) == imap_user.uids("INBOX")
    assert await Ticket.all().count() == total
    assert not await MessageLog.filter(outcome=MessageOutcome.QUARANTINED).exists()
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())
