# The api fixture imported from tests/resolvers is a parameter of the tests below.
# ruff: noqa: F811
"""One scan lock for every starter, across real processes: `mailscanner scan` subprocesses,
`runScanner` on the embedded jobs runner, the recovery of orphaned runs (real Dovecot, real
database: SQLite shared by two processes, or PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from mailscanner.db import close_db, init_db
from mailscanner.models import MessageLog, MessageOutcome, ScanRun, ScanRunStatus, Ticket
from mailscanner.scanning import pipeline
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.cron import recover_scan_runs
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded
from mailscanner.workers.scan import scan_holder

from ..conftest import _truncate_all
from ..fixtures.dovecot import ImapUser
from ..resolvers.conftest import Api, api  # noqa: F401
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration

TTL = "2"  # seconds a dead holder keeps the lock (short, so the tests need not wait long)
CONFIG = JobsConfig.from_env({"MAILSCANNER_SCAN_LOCK_TTL": TTL})
COUNT = 1000

RUN_SCANNER = """
mutation($id: ID!) { runScanner(id: $id) {
  __typename
  ... on RunScannerPayload { alreadyActive scanRun { id status trigger } }
} }"""


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILSCANNER_", "REDIS_URL"))}
    env.update(
        DATABASE_URL=settings.database_url,
        MAILSCANNER_DATA_DIR=str(settings.data_dir),
        MAILSCANNER_SECRET_KEY=settings.secret_key,
        MAILSCANNER_PUBLIC_URL=settings.public_url,
        MAILSCANNER_MESSAGE_ID_DOMAIN=settings.message_id_domain,
        MAILSCANNER_SCAN_LOCK_TTL=TTL,
    )
    return env


def cli_scan(settings: Settings, scanner_id: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailscanner", "scan", str(scanner_id), "--quiet"],
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = await asyncio.to_thread(proc.communicate, timeout=180)
    return out, err


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, limit: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await check():
        assert loop.time() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Settings]:
    """The test database built by the migrations on SQLite too, as `mailscanner scan` (which
    migrates the embedded SQLite before it starts) expects to find it."""
    await init_db(settings, migrate=settings.is_sqlite)
    if not settings.is_sqlite:
        await _truncate_all()
    try:
        yield settings
    finally:
        await close_db()


@pytest.fixture
async def runner(api: Api, db: Settings) -> AsyncIterator[EmbeddedRunner]:
    """`mailscanner serve`'s embedded jobs (no cron: the tests call the recovery themselves)."""
    runner = await start_embedded(db, CONFIG, cron=False)
    yield runner
    await runner.stop(grace=0)


async def busy_mailbox(user: ImapUser) -> int:
    """COUNT mails, every 10th moved to Done (EXPUNGE on the server), the rest marked read."""
    user.append(
        "INBOX", [mail(f"{'move' if i % 10 == 0 else 'ask'} {i}") for i in range(COUNT)]
    )
    scanner = await make_scanner(user)
    move = {"type": "move_to_folder", "folder": "Done"}
    await add_rule(scanner, 'subject begins with "move"', [TICKET, move])
    await add_rule(scanner, "size > 0", [TICKET])
    return scanner.id


async def assert_every_mail_processed_once(user: ImapUser, scanner_id: int) -> None:
    uids = await MessageLog.filter(scanner_id=scanner_id).values_list("uid", flat=True)
    assert len(uids) == len(set(uids)) == COUNT
    assert await Ticket.all().count() == COUNT
    assert not await MessageLog.filter(outcome=MessageOutcome.QUARANTINED).exists()
    assert len(user.uids("Done")) == COUNT // 10
    assert len(user.uids("INBOX")) == COUNT - COUNT // 10
    assert user.uids("INBOX", "UNSEEN") == [] and user.uids("Done", "UNSEEN") == []
    assert all(SEEN in flags for flags in user.flags("INBOX").values())


async def test_run_scanner_during_a_cli_scan_reports_it_and_the_mailbox_is_scanned_once(
    api: Api, runner: EmbeddedRunner, imap_user: ImapUser, db: Settings
) -> None:
    # given a `mailscanner scan` in another process, holding the lock and scanning
    scanner_id = await busy_mailbox(imap_user)
    proc = cli_scan(db, scanner_id)

    async def cli_scanning() -> bool:
        assert proc.poll() is None, proc.communicate()
        holder = await scan_holder(scanner_id, CONFIG)
        return bool(holder and f":{proc.pid}:" in holder) and await MessageLog.exists(
            scanner_id=scanner_id
        )

    await wait_for(cli_scanning, "the CLI scan to be under way")
    # when an admin clicks "run now"
    data = await api.gql(RUN_SCANNER, {"id": str(scanner_id)})
    # then the API reports the scan that is running (the CLI's), and starts no second one
    payload = data["runScanner"]
    assert payload["__typename"] == "RunScannerPayload" and payload["alreadyActive"]
    assert payload["scanRun"]["trigger"] == "cli" and payload["scanRun"]["status"] == "RUNNING"
    # and the server's recovery of orphaned runs leaves the live CLI scan alone
    assert await recover_scan_runs(runner.queue.ctx["locks"], CONFIG) == []
    out, err = await finish(proc)
    assert proc.returncode == 0, err
    await runner.queue.join()  # the job queued by runScanner waited for the lock, found no work
    # and there was one scan, which succeeded and counted what it did
    (run,) = await ScanRun.filter(scanner_id=scanner_id)
    assert run.status == ScanRunStatus.SUCCEEDED and run.trigger == "cli", run.error
    assert run.counts["seen"] == COUNT and run.counts["tickets_created"] == COUNT
    assert run.counts["moved"] == COUNT // 10 and run.counts["errors"] == 0
    assert "Succeeded" in out
    await assert_every_mail_processed_once(imap_user, scanner_id)


async def test_a_cli_scan_during_a_run_scanner_scan_reports_it_and_does_nothing(
    api: Api,
    runner: EmbeddedRunner,
    imap_user: ImapUser,
    db: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a scan started from the API, running in the server process (held after its first
    # commit until the CLI has had its go, so the two surely overlap)
    cli_done = asyncio.Event()

    async def hold(folder: str, uids: Sequence[int]) -> None:
        await cli_done.wait()

    monkeypatch.setattr(pipeline, "_before_side_effects", hold)
    scanner_id = await busy_mailbox(imap_user)
    data = await api.gql(RUN_SCANNER, {"id": str(scanner_id)})
    run_id = int(data["runScanner"]["scanRun"]["id"])

    async def server_scanning() -> bool:
        holder = await scan_holder(scanner_id, CONFIG)
        return bool(holder and f":{os.getpid()}:" in holder) and await MessageLog.exists(
            scanner_id=scanner_id
        )

    await wait_for(server_scanning, "the server's scan to be under way")
    # when `mailscanner scan` is started on the same mailbox
    proc = cli_scan(db, scanner_id)
    out, err = await finish(proc)
    cli_done.set()
    # then it says who is scanning and exits 1 without touching the mailbox
    assert proc.returncode == 1
    assert f"is being scanned right now: run {run_id} (manual)" in err, err
    assert f"by process {os.getpid()}" in err
    await runner.queue.join()
    (run,) = await ScanRun.filter(scanner_id=scanner_id)
    assert run.id == run_id and run.status == ScanRunStatus.SUCCEEDED, run.error
    assert run.counts["seen"] == COUNT and run.counts["moved"] == COUNT // 10
    await assert_every_mail_processed_once(imap_user, scanner_id)


async def test_a_sigkilled_cli_scan_is_recognised_as_dead_by_the_next_scan(
    imap_user: ImapUser, db: Settings
) -> None:
    # given a `mailscanner scan` SIGKILLed mid-scan (no server running anywhere)
    scanner_id = await busy_mailbox(imap_user)
    proc = cli_scan(db, scanner_id)
    await wait_for(lambda: _at_least(scanner_id, 200), "the CLI scan to log 200 mails")
    os.kill(proc.pid, signal.SIGKILL)
    await finish(proc)
    (dead,) = await ScanRun.filter(scanner_id=scanner_id)
    assert dead.status == ScanRunStatus.RUNNING, "the scan finished before the kill"
    logged_before = await MessageLog.filter(scanner_id=scanner_id).count()
    assert logged_before < COUNT
    # when its lock has expired and the next scan starts
    await wait_for(lambda: _free(scanner_id), "the dead scan's lease to expire")
    out, err = await finish(cli_scan(db, scanner_id))
    # then the dead run is marked failed as abandoned, and the new scan does the rest
    assert f"run {dead.id} had been abandoned" in err
    ended = await ScanRun.get(id=dead.id)
    assert ended.status == ScanRunStatus.FAILED and "Abandoned" in (ended.error or "")
    assert ended.finished_at is not None
    new = await ScanRun.filter(scanner_id=scanner_id).exclude(id=dead.id).get()
    assert new.status == ScanRunStatus.SUCCEEDED, (new.error, err)
    # its counts are what it did: the mail the dead scan had not committed
    assert new.counts["seen"] == COUNT - logged_before
    await assert_every_mail_processed_once(imap_user, scanner_id)


async def _at_least(scanner_id: int, rows: int) -> bool:
    return await MessageLog.filter(scanner_id=scanner_id).count() >= rows


async def _free(scanner_id: int) -> bool:
    return await scan_holder(scanner_id, CONFIG) is None
