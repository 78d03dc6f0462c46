"""SIGTERM to `mailscanner serve` (embedded: SQLite, jobs in-process) during a 2,000-mail
scan: the scan stops after its batch in hand, the process exits cleanly, and the next start
resumes the same run and finishes it, every mail exactly once (real processes, Dovecot)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailscanner.db import close_db, init_db
from mailscanner.models import Role
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings, load_settings

from ..fixtures.dovecot import ImapUser
from ..fixtures.smtp import free_port
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOTAL = 2000
RUN_SCANNER = "mutation Run($id: ID!) { runScanner(id: $id) { __typename } }"


class Serve:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))}
        env.update(MAILSCANNER_DATA_DIR=str(settings.data_dir),
                   DATABASE_URL=settings.database_url,
                   MAILSCANNER_SECRET_KEY=settings.secret_key,
                   MAILSCANNER_MESSAGE_ID_DOMAIN=settings.message_id_domain,
                   MAILSCANNER_CRON_SECONDS="1", MAILSCANNER_LOG_FORMAT="json",
                   MAILSCANNER_SHUTDOWN_SECONDS="20", PYTHONUNBUFFERED="1")
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailscanner", "serve", "--port", str(self.port)],
                env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2):
                    return
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                time.sleep(0.2)
        raise AssertionError(f"serve never became ready\n{self.log.read_text()}")

    def post(self, token: str, query: str, **variables: object) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, object] = json.loads(response.read())
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _query(db_file: str, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def _count(db_file: str, sql: str) -> int:
    return int(str(_query(db_file, sql)[0][0]))


def _wait_for(check: object, what: str, log: Path, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}\n{log.read_text()[-6000:]}")
        time.sleep(0.2)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Settings]:
    yield load_settings({
        "MAILSCANNER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite://{tmp_path / 'serve.sqlite3'}",
        "MAILSCANNER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test"})


async def test_sigterm_to_serve_mid_scan_and_the_next_start_finishes_the_same_run(
    embedded: Settings, imap_user: ImapUser, tmp_path: Path
) -> None:
    # given an embedded database with a scanner (inactive: only runScanner starts it) over
    # 2,000 unread mails, and an API token
    imap_user.append("INBOX", [mail(f"request {i}", sender=f"Customer {i} <c{i}@example.com>")
                               for i in range(TOTAL)])
    await init_db(embedded, migrate=True)
    try:
        scanner = await make_scanner(imap_user, active=False)
        await add_rule(scanner, "size > 0", [TICKET])
        token = await create_token(Role.ADMIN, "ops", "Olga Ops")
    finally:
        await close_db()
    db_file = embedded.database_url.removeprefix("sqlite://")
    log = tmp_path / "serve.log"
    serve = Serve(embedded, log)
    try:
        await asyncio.to_thread(serve.wait_ready)
        # when a scan runs and the server gets SIGTERM in the middle of it
        answer = serve.post(token, RUN_SCANNER, id=str(scanner.id))
        assert answer.get("errors") is None, answer

        def in_flight() -> bool:
            return 0 < _count(db_file, "SELECT count(*) FROM ms_message_log") < TOTAL

        await asyncio.to_thread(_wait_for, in_flight, "the scan to be under way", log)
        serve.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(serve.proc.wait, 40)
    finally:
        serve.stop()
    # then the server stopped cleanly (uvicorn ends by re-raising SIGTERM, its convention)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    messages = [str(e["message"]) for e in entries]
    assert code == -signal.SIGTERM, log.read_text()[-4000:]
    assert any("stopped for shutdown" in m for m in messages), messages[-20:]
    assert any("Application shutdown complete" in m for m in messages), messages[-20:]
    # and the scan stopped between batches: the run is left RUNNING, nothing half done
    ((run_id, status),) = _query(db_file, "SELECT id, status FROM ms_scan_run")
    assert status == "running"
    done = _count(db_file, "SELECT count(*) FROM ms_message_log")
    assert 0 < done < TOTAL
    assert _query(db_file, "SELECT count(*) FROM ms_message_log WHERE side_effects = 'pending'"
                  ) == [(0,)]

    # when the server starts again, the scheduler resumes the run and finishes it
    again = Serve(embedded, log)
    try:
        await asyncio.to_thread(again.wait_ready)

        def finished() -> bool:
            return _query(db_file, f"SELECT status FROM ms_scan_run WHERE id = {run_id}") != [
                ("running",)]

        await asyncio.to_thread(_wait_for, finished, "the resumed scan to finish", log)
    finally:
        again.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(again.proc.wait, 40)
        again.stop()
    # then it is the same run, it succeeded, and every mail was processed exactly once
    assert _query(db_file, "SELECT status, processed FROM ms_scan_run") == [("succeeded", TOTAL)]
    uids = imap_user.uids("INBOX")
    logged = [uid for (uid,) in _query(db_file, "SELECT uid FROM ms_message_log ORDER BY uid")]
    assert logged == uids and len(uids) == TOTAL
    assert _query(db_file, "SELECT count(*) FROM ms_ticket") == [(TOTAL,)]
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())
