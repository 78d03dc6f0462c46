"""Crashes at the worst moments: nothing lost, nothing twice (real Dovecot, real database)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import asyncpg
import pytest

from mailscanner.models import (
    FolderState,
    MessageLog,
    ScanRun,
    ScanRunStatus,
    ScanType,
    SideEffects,
    Ticket,
)
from mailscanner.scanning import parse_pool, pipeline
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration


class Crash(Exception):
    pass


async def crash(folder: str, uids: Sequence[int]) -> None:
    raise Crash(f"injected crash in {folder} at uids {uids[0]}..{uids[-1]}")


async def test_crash_between_commit_and_side_effects_is_finished_by_the_next_scan(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    imap_user.append("INBOX", [mail("move me"), mail("keep me")])
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner, 'subject contains "move"', [TICKET, {"type": "move_to_folder", "folder": "Done"}]
    )
    await add_rule(scanner, "size > 0", [TICKET])
    monkeypatch.setattr(pipeline, "_before_side_effects", crash)
    # when: the scan dies after the commit, before touching the mailbox
    failed = await run_scan(scanner.id, settings=db)
    # then: the database has everything, the server nothing yet, the effects are pending
    assert failed.status == ScanRunStatus.FAILED and "injected crash" in (failed.error or "")
    assert await Ticket.all().count() == 2
    assert await MessageLog.filter(side_effects=SideEffects.PENDING).count() == 2
    assert imap_user.subjects("INBOX") == ["move me", "keep me"]
    assert not any(SEEN in f for f in imap_user.flags("INBOX").values())
    # when: the next scan runs normally
    monkeypatch.undo()
    run = await run_scan(scanner.id, settings=db)
    # then: pending effects are applied, nothing is created twice
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert await Ticket.all().count() == 2 and await MessageLog.all().count() == 2
    assert await MessageLog.filter(side_effects=SideEffects.PENDING).count() == 0
    assert imap_user.subjects("INBOX") == ["keep me"] and imap_user.subjects("Done") == ["move me"]
    assert all(
        SEEN in f for f in [*imap_user.flags("INBOX").values(), *imap_user.flags("Done").values()]
    )
    assert run.counts["moved"] == 1 and run.counts["tickets_created"] == 0


async def test_crash_between_side_effects_and_checkpoint_reads_nothing_twice(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_user.append("INBOX", [mail("a"), mail("b")], flags=(SEEN,))
    scanner = await make_scanner(imap_user, scan_type=ScanType.ALL_SINCE_LAST_SCAN)
    await add_rule(scanner, "size > 0", [TICKET])
    monkeypatch.setattr(pipeline, "_before_checkpoint", crash)
    failed = await run_scan(scanner.id, settings=db)
    assert failed.status == ScanRunStatus.FAILED
    assert (await FolderState.get(scanner_id=scanner.id)).last_uid == 0
    monkeypatch.undo()
    imap_user.append("INBOX", [mail("c")], flags=(SEEN,))
    run = await run_scan(scanner.id, settings=db)
    assert run.counts["seen"] == 1 and run.processed == 3
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["a", "b", "c"]
    assert (await FolderState.get(scanner_id=scanner.id)).last_uid == max(imap_user.uids("INBOX"))


CHILD = """
import asyncio, sys
from mailscanner.db import close_db, init_db
from mailscanner.settings import load_settings
from mailscanner.scanning.pipeline import run_scan

async def main():
    settings = load_settings()
    await init_db(settings)
    try:
        run = await run_scan(int(sys.argv[1]), settings=settings)
        print(run.status.value, run.error or "")
    finally:
        await close_db()

asyncio.run(main())
"""


def _child_env(settings: Settings) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=settings.database_url,
        MAILSCANNER_DATA_DIR=str(settings.data_dir),
        MAILSCANNER_SECRET_KEY=settings.secret_key,
        MAILSCANNER_PUBLIC_URL=settings.public_url,
        MAILSCANNER_MESSAGE_ID_DOMAIN=settings.message_id_domain,
    )


async def _wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def _wait_for_rows(proc: subprocess.Popen[bytes], scanner_id: int, rows: int) -> None:
    """Until the child has committed at least `rows` log rows (or exited, or 60 s passed)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if await MessageLog.filter(scanner_id=scanner_id).count() >= rows:
            return
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_a_scan_killed_at_random_points_completes_with_every_message_exactly_once(
    db: Settings, imap_user: ImapUser
) -> None:
    # given: 2,000 mails; every 10th is moved, the others only marked read
    count = 2000
    imap_user.append(
        "INBOX",
        [
            mail(f"{'move' if i % 10 == 0 else 'ask'} {i}", body=f"question {i}\n")
            for i in range(count)
        ],
    )
    scanner = await make_scanner(imap_user)
    await add_rule(
        scanner,
        'subject begins with "move"',
        [TICKET, {"type": "move_to_folder", "folder": "Done"}],
    )
    await add_rule(scanner, "size > 0", [{"type": "create_contact"}, TICKET])
    seed = int(os.environ.get("KILL_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    env = _child_env(db)
    logged_at_kill: list[int] = []
    # when: scans in a child process are SIGKILLed at random moments, five times. The moment
    # is picked by progress, not by clock (the scan's speed varies with machine and load):
    # once the child has logged a random number of further rows (at most a quarter of what is
    # left, so several kills fit before the end), plus a random delay.
    for _ in range(12):  # until five kills landed mid-scan or a child finished by itself
        before = await MessageLog.filter(scanner_id=scanner.id).count()
        remaining = count - before
        if remaining <= 2 * pipeline.BATCH_SIZE:  # rows commit a batch at a time
            break
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(scanner.id)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        await _wait_for_rows(proc, scanner.id, before + rng.randint(1, remaining // 4))
        await _wait(proc, rng.uniform(0.0, 0.05))  # well within one batch
        if proc.poll() is not None:
            proc.communicate()
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        logged_at_kill.append(await MessageLog.filter(scanner_id=scanner.id).count())
        if sum(0 < n < count for n in logged_at_kill) == 5:
            break
    # then: a final scan completes the work
    final = subprocess.run(
        [sys.executable, "-c", CHILD, str(scanner.id)], env=env, capture_output=True, timeout=60
    )
    assert final.stdout.startswith(b"succeeded"), (seed, final.stdout, final.stderr[-2000:])
    # kills landed in the middle of the mailbox, not only before or after the work
    assert sum(0 < n < count for n in logged_at_kill) >= 2, (seed, logged_at_kill)
    print(f"kill seed {seed}: log rows at each kill {logged_at_kill}")
    logs = await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    assert len(logs) == len(set(logs)) == count, seed
    assert await MessageLog.filter(side_effects=SideEffects.PENDING).count() == 0
    assert await Ticket.all().count() == count, seed
    assert len(set(await Ticket.all().values_list("source_message_id", flat=True))) == count
    assert (
        len(imap_user.uids("Done")) == count // 10
        and len(imap_user.uids("INBOX")) == count - count // 10
    )
    assert imap_user.uids("INBOX", "UNSEEN") == [] and imap_user.uids("Done", "UNSEEN") == []


async def test_a_parse_process_killed_mid_scan_loses_and_doubles_nothing(
    db: Settings, imap_user: ImapUser, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a mailbox big enough for the kill to land mid-scan, parsed in a parse process
    count = 1200
    imap_user.append("INBOX", [mail(f"case {i}", body=f"question {i}\n") for i in range(count)])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [{"type": "create_contact"}, TICKET])
    settings = replace(db, parse_processes=1)
    await parse_pool.run_in_pool(1, os.getpid)  # the pool is up before the scan starts
    (victim,) = parse_pool.worker_pids()
    # when: the parse process is killed (as by the OOM killer) once the scan is under way
    scan = asyncio.ensure_future(run_scan(scanner.id, settings=settings))
    while await MessageLog.filter(scanner_id=scanner.id).count() < pipeline.BATCH_SIZE:
        assert not scan.done(), scan.result().error
        await asyncio.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    run = await scan
    # then: the scan finished by itself, every mail exactly once, and parsing goes on
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    uids = await MessageLog.filter(scanner_id=scanner.id).values_list("uid", flat=True)
    assert len(uids) == len(set(uids)) == count
    assert await Ticket.all().count() == count
    assert "a parse process died" in caplog.text  # the batch it had was parsed here instead
    assert victim not in parse_pool.worker_pids()
    assert await parse_pool.run_in_pool(1, os.getpid) != os.getpid()


async def test_a_run_whose_end_meets_a_dropped_database_connection_is_still_recorded(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a scan whose first write of its end meets a connection the database dropped
    # (a restart, a failover: found by the fault-injection suite, PostgreSQL drops)
    imap_user.append("INBOX", [mail("one")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    finish, calls = pipeline._finish_run, []

    async def dropped_once(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise asyncpg.exceptions.ConnectionDoesNotExistError(
                "connection was closed in the middle of operation")
        await finish(*args)

    monkeypatch.setattr(pipeline, "_finish_run", dropped_once)
    # when it runs
    run = await run_scan(scanner.id, settings=db)
    # then the run ends SUCCEEDED all the same (not left RUNNING), and says so in the database
    assert len(calls) == 2
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    assert (await ScanRun.get(id=run.id)).status == ScanRunStatus.SUCCEEDED
    assert await Ticket.all().count() == 1
