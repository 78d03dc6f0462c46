"""A scanner handed over between workers: transient failures, a second scan, a lost lock.

When a batch's transaction fails, the pipeline redoes it one message per transaction and
quarantines what fails. A deadlock or serialization failure (two workers scanning one
mailbox after a lock handover), or a log row another scan wrote meanwhile, is no fault of
the mail: it must be read again later, or recognised as done, never quarantined without a
ticket. A scan cancelled because its lock was lost leaves its run to the lock's new
holder (real Dovecot, real database: SQLite or PostgreSQL per MAILSCANNER_TEST_DB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import asyncpg
import pytest
from tortoise.backends.base.client import BaseDBAsyncClient

from mailscanner.models import (
    FolderState,
    MessageLog,
    MessageOutcome,
    Scanner,
    ScanRun,
    ScanRunStatus,
    ScanType,
    Ticket,
)
from mailscanner.scanning import pipeline, process
from mailscanner.scanning.pipeline import run_scan
from mailscanner.settings import Settings
from mailscanner.workers.lock import LOCK_LOST

from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import SEEN, TICKET, add_rule, mail, make_scanner

pytestmark = pytest.mark.integration


async def _batch_fails(*args: Any, **kwargs: Any) -> Any:
    raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")


async def test_a_message_failing_for_a_transient_reason_is_left_for_the_next_scan(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given three mails, scanned by UID checkpoint; the batch transaction and then the
    # second mail's own transaction die of a deadlock (as with two workers on one mailbox)
    imap_user.append("INBOX", [mail("one"), mail("two"), mail("three")])
    scanner = await make_scanner(imap_user, scan_type=ScanType.ALL_SINCE_LAST_SCAN)
    await add_rule(scanner, "size > 0", [TICKET])
    monkeypatch.setattr(pipeline, "process_batch", _batch_fails)
    original = Ticket.allocate_number.__func__  # type: ignore[attr-defined]
    calls: list[str] = []

    async def allocate(cls: type[Ticket], prefix: str, conn: BaseDBAsyncClient) -> str:
        calls.append(prefix)
        if len(calls) == 2:  # the second mail's ticket
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        return str(await original(cls, prefix, conn))

    monkeypatch.setattr(Ticket, "allocate_number", classmethod(allocate))
    # when the scan runs
    run = await run_scan(scanner.id, settings=db)
    # then the other two are processed, and "two" is neither quarantined nor logged
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    subjects = cast("list[str]", await MessageLog.all().values_list("subject", flat=True))
    assert sorted(subjects) == ["one", "three"]
    assert not await MessageLog.filter(outcome=MessageOutcome.QUARANTINED).exists()
    assert run.counts["errors"] == 0 and run.counts["tickets_created"] == 2
    two_uid = imap_user.uids("INBOX")[1]
    assert SEEN not in imap_user.flags("INBOX")[two_uid]
    # and the checkpoint stops short of it
    state = await FolderState.get(scanner_id=scanner.id, folder="INBOX")
    assert state.last_uid < two_uid
    # when the database is well again, the next scan gives "two" its ticket
    monkeypatch.undo()
    again = await run_scan(scanner.id, settings=db)
    assert again.status == ScanRunStatus.SUCCEEDED, again.error
    assert again.counts["tickets_created"] == 1
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["one", "three", "two"]
    assert await MessageLog.all().count() == 3
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())


async def test_a_message_logged_meanwhile_by_another_scan_is_left_to_it(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two mails; while this scan processes "two" on its own, another scan (a worker
    # that took the scanner over) commits "two" first
    imap_user.append("INBOX", [mail("one"), mail("two")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    monkeypatch.setattr(pipeline, "process_batch", _batch_fails)
    process_message = process.process_message  # what pipeline imported and calls
    two_uid = imap_user.uids("INBOX")[1]

    async def other_scan_first(*args: Any, **kwargs: Any) -> Any:
        uidvalidity, uid = args[3], args[4]
        if uid == two_uid:
            await MessageLog.create(
                scanner_id=scanner.id,
                folder="INBOX",
                uidvalidity=uidvalidity,
                uid=uid,
                subject="two",
                outcome=MessageOutcome.PROCESSED,
            )
        return await process_message(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_message", other_scan_first)
    # when the scan runs
    run = await run_scan(scanner.id, settings=db)
    # then "two" keeps the other scan's row: not quarantined, not counted as an error
    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    rows = await MessageLog.all().order_by("uid").values_list("subject", "outcome")
    assert rows == [("one", MessageOutcome.PROCESSED), ("two", MessageOutcome.PROCESSED)]
    assert run.counts["errors"] == 0 and run.counts["tickets_created"] == 1
    assert run.processed == 2 and await Ticket.all().count() == 1


@pytest.mark.parametrize("lock_lost", [True, False], ids=["lock-lost", "shutdown"])
async def test_a_scan_cancelled_for_a_lost_lock_leaves_its_run_to_the_new_holder(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch, lock_lost: bool
) -> None:
    # given a queued run, and a scan of it that is cancelled once its batch has committed:
    # by the lock's heartbeat (another worker took the scanner over), or by a shutdown
    imap_user.append("INBOX", [mail("one"), mail("two")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    run = await ScanRun.create(scanner_id=scanner.id, status=ScanRunStatus.QUEUED)
    task = asyncio.ensure_future(run_scan(scanner.id, run.id, settings=db))

    async def cancel(folder: str, uids: Sequence[int]) -> None:
        task.cancel(LOCK_LOST if lock_lost else None)

    monkeypatch.setattr(pipeline, "_before_side_effects", cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = await ScanRun.get(id=run.id)
    health = await Scanner.get(id=scanner.id)
    if not lock_lost:  # a shutdown records the run's end
        assert stopped.status == ScanRunStatus.FAILED
        assert stopped.error == "The scan was cancelled." and health.failure_count == 1
        return
    # then the run stays RUNNING, for the worker that now holds the lock, and the scanner's
    # health is untouched (the scan did not fail)
    assert stopped.status == ScanRunStatus.RUNNING and stopped.error is None
    assert health.failure_count == 0 and health.last_error is None
    # when the new holder resumes the run, it finishes it, every mail once
    monkeypatch.undo()
    resumed = await run_scan(scanner.id, run.id, settings=db)
    assert resumed.id == run.id and resumed.status == ScanRunStatus.SUCCEEDED, resumed.error
    # and its counts are the whole run's: the first holder's part and the resumed part
    assert resumed.counts["seen"] == 2 and resumed.counts["tickets_created"] == 2
    assert sorted(await Ticket.all().values_list("title", flat=True)) == ["one", "two"]
    assert await MessageLog.all().count() == 2
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())


async def test_a_scan_cancelled_after_the_shutdown_time_ran_out_is_left_to_be_resumed(
    db: Settings, imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailscanner.ops import shutdown

    # given a queued run whose scan is cancelled mid-batch after a shutdown was requested
    # (its MAILSCANNER_SHUTDOWN_SECONDS ran out before the batch boundary)
    imap_user.append("INBOX", [mail("one"), mail("two")])
    scanner = await make_scanner(imap_user)
    await add_rule(scanner, "size > 0", [TICKET])
    run = await ScanRun.create(scanner_id=scanner.id, status=ScanRunStatus.QUEUED)
    task = asyncio.ensure_future(run_scan(scanner.id, run.id, settings=db))

    async def out_of_time(folder: str, uids: Sequence[int]) -> None:
        shutdown.request()
        task.cancel()

    monkeypatch.setattr(pipeline, "_before_side_effects", out_of_time)
    try:
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        shutdown.reset()
    # then the run is not failed but left RUNNING, and the next scan resumes it: every mail
    # once, the committed batch's pending side effects finished
    assert (await ScanRun.get(id=run.id)).status == ScanRunStatus.RUNNING
    assert (await Scanner.get(id=scanner.id)).failure_count == 0
    monkeypatch.undo()
    resumed = await run_scan(scanner.id, run.id, settings=db)
    assert resumed.status == ScanRunStatus.SUCCEEDED, resumed.error
    titles = cast("list[str]", await Ticket.all().values_list("title", flat=True))
    assert sorted(titles) == ["one", "two"]
    assert all(SEEN in flags for flags in imap_user.flags("INBOX").values())
