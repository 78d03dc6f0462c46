"""Fault injection: kills, server restarts and dropped connections at random moments.

Against a real Dovecot (this file's own, so restarting it disturbs no other test), aiosmtpd
and the test database, four scenarios break the mail path while it works:

(a) `mailscanner scan` subprocesses SIGKILLed at 20 random points of a 2,000-mail scan,
    restarted after each kill;
(b) Dovecot restarted while a scan reads the mailbox;
(c) every PostgreSQL connection of a scan terminated while one of its transactions is open
    (PostgreSQL only);
(d) the SMTP server stopped during a burst of 50 comment emails, then started again.

After each: every mail became exactly one ticket or comment (none lost, none twice), no mail
is flagged \\Seen on the server without its ticket, every comment email reached the SMTP
server exactly once (counted by Message-ID), and the next scan ends SUCCEEDED. Each test
prints one `[faults]` line (trials, lost, duplicated; `pytest -s` shows it), which is also
the assertion message. Kill points come from RNGs seeded from the seed printed there:
FAULT_SEED=<n> replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncpg
import httpx2
import pytest
from tortoise import Tortoise

from mailscanner.app import create_app
from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.models import (
    Comment,
    DeliveryStatus,
    MessageLog,
    OutboundEmail,
    Role,
    ScanRun,
    ScanRunStatus,
    ScanType,
    SideEffects,
)
from mailscanner.resolvers.auth import create_token
from mailscanner.scanning import pipeline
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.transport.smtp_connections import SmtpConnections
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import set_queue
from mailscanner.workers.send import requeue_outbound
from mailscanner.workers.settings import build_functions

from ..fixtures.dovecot import DovecotServer, restart_dovecot, start_dovecot, stop_dovecot
from ..fixtures.smtp import OutboxScene
from .faults import Mailbox, Pace, Tally, Victim, child_env, fill, reap_session, tally

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = int(os.environ.get("FAULT_SEED", random.randrange(10**6)))
KILLS, KILL_MAILS = 20, 2000


def _report(result: Tally) -> str:
    line = result.line()
    print(line)
    return line


@pytest.fixture(scope="module")
def fault_dovecot() -> Iterator[DovecotServer]:
    """This file's own Dovecot: scenario (b) restarts it."""
    server = start_dovecot()
    try:
        yield server
    finally:
        stop_dovecot(server)


@pytest.fixture
async def cli_db(settings: Settings) -> AsyncIterator[Settings]:
    """`db`, built by the migrations on SQLite too, as `mailscanner scan` expects of its file
    (the `db` fixture generates SQLite schemas from the models)."""
    if settings.is_sqlite:
        await run_migrations(settings.database_url)
    await init_db(settings)
    if not settings.is_sqlite:
        tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
        await Tortoise.get_connection("default").execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    try:
        yield settings
    finally:
        await close_db()


async def _logged(box: Mailbox) -> int:
    return await MessageLog.filter(scanner_id=box.scanner.id).count()


async def _assert_final_scan_succeeds(box: Mailbox, settings: Settings) -> ScanRun:
    run = await run_scan(box.scanner.id, settings=settings)
    assert run.status == ScanRunStatus.SUCCEEDED, (SEED, run.error)
    assert not await MessageLog.filter(side_effects=SideEffects.PENDING).exists()
    return run


# --- (a) SIGKILL ---------------------------------------------------------------------------


@pytest.mark.timeout(300)  # ~20 process starts: about a minute, more on a loaded machine
async def test_a_scan_sigkilled_at_20_random_points_loses_and_doubles_nothing(
    cli_db: Settings, fault_dovecot: DovecotServer, tmp_path: Path
) -> None:
    # given 2,000 mails: a fifth of them replies to existing tickets, every 10th of the
    # others moved to "Done" besides
    box = await fill(fault_dovecot.add_user(), "kill", KILL_MAILS)
    rng = random.Random(SEED)
    command = [sys.executable, "-m", "mailscanner", "scan", str(box.scanner.id), "--quiet"]
    # A killed scan's lock (a lease in the database) keeps its mailbox from the next scan
    # until it expires: the shortest TTL keeps the test short (one scan at a time here, so
    # a late renewal never loses the lock).
    env = child_env(cli_db, MAILSCANNER_SCAN_LOCK_TTL="0.5")
    at_kill: list[int] = []  # log rows committed when each kill landed
    finished_alone = turned_away = orphans = 0
    pace = Pace()
    # when `mailscanner scan` runs in a subprocess that is SIGKILLed (as by the OOM killer)
    # once its scan is under way, 20 times: each kill aims at a random mail (seeded, spread
    # over the mailbox, the last batch left out so that work remains) and lands at a random
    # moment of that mail's batch: after the batch before it committed, within one batch's
    # time (fetching, parsing, committing, flagging, checkpointing; and in a new process
    # connecting and finishing the effects the previous kill left pending). The moment
    # follows progress, not the clock, so machine speed does not move it.
    targets = sorted(rng.randrange(KILL_MAILS - pipeline.BATCH_SIZE) for _ in range(KILLS))
    for spawn in range(4 * KILLS):
        if len(at_kill) == KILLS:
            break
        target = targets[len(at_kill)]
        last_run = await ScanRun.all().order_by("-id").first()
        with open(tmp_path / f"scan-{spawn}.log", "wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log,
                                    start_new_session=True)
        victim = Victim(proc, box.scanner.id, pace, last_run.id if last_run else 0)
        rows = await victim.kill_at(target - target % pipeline.BATCH_SIZE,
                                    lambda: rng.uniform(0.0, pace.batch_seconds()))
        if rows is not None:
            at_kill.append(rows)
        elif victim.ran:
            finished_alone += 1
        else:  # the killed scan's lock had not expired yet: "being scanned right now"
            turned_away += 1
            await asyncio.sleep(0.5)
        # the parse processes and their fork server exit with the scan process
        orphans += len(reap_session(proc.pid))
    # then a final `mailscanner scan` finishes the work and ends SUCCEEDED
    for _ in range(20):
        final = subprocess.run(command, env=env, capture_output=True, timeout=120)
        if b"being scanned" not in final.stderr:
            break
        await asyncio.sleep(0.5)
    assert final.returncode == 0, (SEED, final.stdout[-2000:], final.stderr[-2000:])
    assert b"Succeeded" in final.stdout
    stuck = await ScanRun.filter(status=ScanRunStatus.RUNNING).count()
    result = await tally(box, "SIGKILL mid-scan", SEED, len(at_kill))
    line = _report(result)
    print(f"[faults] rows logged at each kill: {at_kill}; scans that finished before their "
          f"kill: {finished_alone}; turned away by a killed scan's lock: {turned_away}; "
          f"processes left behind: {orphans}; runs of killed scans still RUNNING: {stuck}")
    assert result.ok, line
    assert len(at_kill) == KILLS, (line, at_kill)
    # the kills landed while there was work left, not only before or after it
    assert sum(0 < n < KILL_MAILS for n in at_kill) >= KILLS // 4, (line, at_kill)
    assert orphans == 0, line
    # each killed scan's run was recognised as abandoned by the next start (issue 13 item 5)
    assert stuck == 0, line
    assert await _logged(box) == KILL_MAILS
    assert len(box.user.uids("Done")) == KILL_MAILS // 10
    assert box.user.uids("INBOX", "UNSEEN") == [] and box.user.uids("Done", "UNSEEN") == []


# --- (b) Dovecot restart -------------------------------------------------------------------


async def test_dovecot_restarted_mid_scan_loses_and_doubles_nothing(
    db: Settings, fault_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a scanner reading by UID checkpoint ("everything since the last scan": a
    # checkpoint past a mail not done would lose it)
    count, restarts = 500, 2
    box = await fill(fault_dovecot.add_user(), "imap", 0, ScanType.ALL_SINCE_LAST_SCAN)
    rng = random.Random(SEED + 1)
    outcomes: list[tuple[ScanRunStatus, str | None]] = []
    # when, twice, 500 new mails arrive (three batches) and Dovecot restarts (every
    # connection drops) in the middle of their scan: once a random batch has committed,
    # before its mail is flagged; the scan meets the dropped connection in whatever it does
    # next (flagging that batch, fetching ahead)
    for _ in range(restarts):
        box.add(count)
        at_batch = rng.randrange(3)
        committed: list[int] = []

        async def restart_then(
            folder: str, uids: Sequence[int], committed: list[int] = committed,
            at_batch: int = at_batch,
        ) -> None:
            committed.append(uids[0])
            if len(committed) == at_batch + 1:
                await asyncio.to_thread(restart_dovecot, fault_dovecot)

        monkeypatch.setattr(pipeline, "_before_side_effects", restart_then)
        run = await run_scan(box.scanner.id, settings=db)
        assert len(committed) > at_batch, "the scan ended before the restart; use more mail"
        outcomes.append((run.status, run.error))
    monkeypatch.undo()
    # then each interrupted run ended FAILED with a reason, and the next scan succeeds
    await _assert_final_scan_succeeds(box, db)
    result = await tally(box, "Dovecot restarted mid-scan", SEED, restarts)
    line = _report(result)
    print(f"[faults] interrupted runs: {outcomes}")
    assert result.ok, line
    assert all(s == ScanRunStatus.FAILED and e for s, e in outcomes), (line, outcomes)
    assert not await ScanRun.filter(status=ScanRunStatus.RUNNING).exists()
    assert box.user.uids("INBOX", "UNSEEN") == []


# --- (c) PostgreSQL connections dropped ----------------------------------------------------

# A backend inside a transaction of several statements (its current statement started after
# its transaction did): a batch's or a message's transaction, not an autocommit query.
_IN_TRANSACTION = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND xact_start IS NOT NULL AND query_start > xact_start
"""


@pytest.mark.postgres_only
async def test_postgres_connections_dropped_mid_batch_lose_and_double_nothing(
    db: Settings, fault_dovecot: DovecotServer
) -> None:
    if db.is_sqlite:
        # Never silently passed over: on SQLite this test is deselected (-m "not postgres_only",
        # as scripts/test does), like every test that needs PostgreSQL's server processes.
        pytest.fail("PostgreSQL only (it terminates server backends): deselect it on SQLite "
                    "with -m \"not postgres_only\", as scripts/test does")
    # given a scanner reading by UID checkpoint, and a connection of our own to watch the
    # scan's (the test process leaves its Tortoise connections to the scan meanwhile: all
    # of them are the scan's)
    count, drops_wanted = 600, 3
    box = await fill(fault_dovecot.add_user(), "pg", 0, ScanType.ALL_SINCE_LAST_SCAN)
    rng = random.Random(SEED + 2)
    admin = await asyncpg.connect(db.database_url)
    drops: list[int] = []  # log rows when each drop landed

    async def logged() -> int:
        return int(await admin.fetchval(
            "SELECT count(*) FROM ms_message_log WHERE scanner_id = $1", box.scanner.id))

    outcomes: list[tuple[ScanRunStatus, str | None]] = []
    try:
        # when, three times, 600 new mails arrive, and every connection of their scan is
        # terminated while one of its transactions is open, after up to a batch of mails
        # (the scan may go on, one mail per transaction, or fail: either is fine); a scan
        # that ended before a transaction was caught gets a new round
        for _ in range(2 * drops_wanted):
            if len(drops) == drops_wanted:
                break
            box.add(count)
            target = await logged() + rng.randint(0, pipeline.BATCH_SIZE)
            scan = asyncio.ensure_future(run_scan(box.scanner.id, settings=db))
            while not scan.done() and await logged() < target:
                await asyncio.sleep(0.005)
            while not scan.done():
                if await admin.fetch(_IN_TRANSACTION):
                    await admin.fetch(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()")
                    drops.append(await logged())
                    break
                await asyncio.sleep(0.002)
            run = await scan
            outcomes.append((run.status, run.error))
    finally:
        await admin.close()
    # then no run was left RUNNING, and the next scan succeeds
    assert not await ScanRun.filter(status=ScanRunStatus.RUNNING).exists()
    await _assert_final_scan_succeeds(box, db)
    result = await tally(box, "PostgreSQL connections dropped mid-batch", SEED, len(drops))
    line = _report(result)
    print(f"[faults] rows logged at each drop: {drops}; the interrupted runs: {outcomes}")
    assert result.ok, line
    assert len(drops) == drops_wanted, (line, drops)
    assert box.user.uids("INBOX", "UNSEEN") == []


# --- (d) SMTP down during a burst ----------------------------------------------------------

ADD_COMMENT = """
mutation($ticketId: ID!, $body: String!) {
  addComment(ticketId: $ticketId, body: $body) {
    __typename
    ... on CommentPayload { comment { id } }
  }
}
"""


async def test_smtp_stopped_during_a_burst_of_50_comment_emails_sends_each_exactly_once(
    outbox_scene: OutboxScene, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given the embedded job runner (kept-open SMTP connections, quick retries) and the API
    burst = 50
    monkeypatch.setenv("MAILSCANNER_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MAILSCANNER_MESSAGE_ID_DOMAIN", outbox_scene.settings.message_id_domain)
    server = outbox_scene.server
    rng = random.Random(SEED + 3)
    stop_after = rng.randint(1, burst // 2)  # mails received before the server stops
    down_for = rng.uniform(0.3, 1.5)
    connections = SmtpConnections()
    queue = InProcessQueue(build_functions(JobsConfig()),
                           ctx={"smtp_connections": connections, "send_retry_base_s": 0.2})
    set_queue(queue)
    token = await create_token(Role.AGENT, "agent", "Alice Agent")
    app = create_app(outbox_scene.settings, start_services=False)

    async def outage() -> None:
        while len(server.received()) < stop_after:
            await asyncio.sleep(0.005)
        # in a thread: the sends on this loop go on while the server goes down under them
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(down_for)
        await asyncio.to_thread(server.start)

    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://testserver") as client:
            # when 50 comments are written in a burst and SMTP stops in the middle of it
            down = asyncio.ensure_future(outage())
            for i in range(burst):
                response = await client.post(
                    "/graphql", headers={"Authorization": f"Bearer {token}"},
                    json={"query": ADD_COMMENT, "variables": {
                        "ticketId": str(outbox_scene.ticket.id), "body": f"Update {i}."}})
                assert response.json()["data"]["addComment"]["__typename"] == "CommentPayload"
            await down
            await queue.join()
            await requeue_outbound()  # the sweep, as the scheduler tick runs it
            await queue.join()
    finally:
        set_queue(None)
        await queue.close()
        await connections.close()
    # then every comment email reached the server exactly once, and says so
    rows = await OutboundEmail.all()
    sent = Counter(str(m.message["Message-ID"]) for m in server.received())
    lost = [r.message_id for r in rows if sent[r.message_id] == 0]
    twice = [r.message_id for r in rows if sent[r.message_id] > 1]
    line = (f"[faults] SMTP stopped after {stop_after} of {burst} mails for {down_for:.2f} s: "
            f"seed {SEED}, trials 1, emails {len(rows)}, lost {len(lost)}, "
            f"duplicated {len(twice)}, attempts {sum(r.attempts for r in rows)}")
    print(line)
    assert len(rows) == burst, line
    assert await Comment.filter(ticket_id=outbox_scene.ticket.id).count() == burst, line
    assert not lost and not twice and len(server.received()) == burst, line
    statuses = Counter(r.status for r in rows)
    assert statuses == {DeliveryStatus.SENT: burst}, (line, statuses)
    assert any(r.attempts > 1 for r in rows), ("no send met the outage", line)

