"""Push in the embedded mode (`mailscanner serve` without Redis): watchers inside the server.

Against real Dovecot: a new message becomes a ticket without any scheduled scan, a burst is
one or two scans, a restarted server is reconnected to, a server without IDLE is polled with
the cheap check only, and deactivating a scanner closes its connections on Dovecot's side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mailscanner.models import (
    MessageLog,
    PushState,
    PushStatus,
    Role,
    Rule,
    Scanner,
    ScanRun,
    ScanRunStatus,
    Ticket,
)
from mailscanner.settings import Settings
from mailscanner.watch.config import WatchConfig
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded

from ..fixtures.dovecot import DovecotServer, ImapUser, restart_dovecot
from ..scanning.helpers import TICKET, add_rule, mail, make_scanner
from ..watch.fixtures import connections, no_idle_dovecot, push_dovecot  # noqa: F401
from ..workers.cluster import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# An interval of an hour: any scan seen within a test came from push, not from the schedule.
HOURLY = JobsConfig(prefix="push:", scan_timeout_seconds=60)
WATCH = WatchConfig(tick_seconds=0.5, reload_seconds=1, max_backoff_seconds=2)


async def watched_scanner(user: ImapUser, **overrides: Any) -> Scanner:
    values: dict[str, Any] = {"scan_interval_minutes": 60, "last_scan_at": datetime.now(UTC)}
    values.update(overrides)
    scanner = await make_scanner(user, **values)
    await add_rule(scanner, "size > 0", [TICKET])
    return scanner


@pytest.fixture
async def runner(db: Settings) -> AsyncIterator[Callable[..., Awaitable[EmbeddedRunner]]]:
    started: list[EmbeddedRunner] = []

    async def start(jobs: JobsConfig = HOURLY, *, cron: bool = True) -> EmbeddedRunner:
        started.append(await start_embedded(db, jobs, cron=cron, watch=True, watch_config=WATCH))
        return started[-1]

    yield start
    for r in started:
        await r.stop()


def state_is(scanner: Scanner, state: PushState) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        row = await PushStatus.filter(scanner_id=scanner.id).first()
        return row is not None and row.state == state

    return check


def no_scan_pending(scanner: Scanner) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        runs = ScanRun.filter(scanner_id=scanner.id)
        return await runs.exists() and not await runs.filter(
            status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
        ).exists()

    return check


def tickets_titled(*titles: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await Ticket.filter(title__in=list(titles)).count() == len(titles)

    return check


async def settled(scanner: Scanner, state: PushState = PushState.IDLING) -> None:
    """Watching, and the catch-up scan of the first connect is over."""
    await wait_until(state_is(scanner, state), f"the watcher {state.value}")
    await wait_until(no_scan_pending(scanner), "the catch-up scan to finish")


async def test_a_message_appended_to_a_watched_inbox_becomes_a_ticket_without_a_scheduled_poll(
    runner: Callable[..., Awaitable[EmbeddedRunner]], push_dovecot: DovecotServer  # noqa: F811
) -> None:
    # given a scanner scanned just now, with an interval of an hour, watched
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    await runner()
    await settled(scanner)
    runs_before = await ScanRun.filter(scanner_id=scanner.id).count()
    # when a customer's mail arrives
    await asyncio.to_thread(user.append, "INBOX", [mail("Printer on fire")])
    # then it became a ticket without a scheduled poll (a generous wait: a loaded machine)
    await wait_until(tickets_titled("Printer on fire"), "the ticket", limit=30)
    runs = await ScanRun.filter(scanner_id=scanner.id).order_by("id")
    assert len(runs) == runs_before + 1
    assert [r.trigger for r in runs] == ["push"] * len(runs), "became a ticket without a poll"
    status = await PushStatus.get(scanner_id=scanner.id)
    assert status.state == PushState.IDLING and status.last_event_at is not None


async def test_fifty_messages_appended_at_once_give_at_most_two_scans(
    runner: Callable[..., Awaitable[EmbeddedRunner]], push_dovecot: DovecotServer  # noqa: F811
) -> None:
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    await runner()
    await settled(scanner)
    runs_before = await ScanRun.filter(scanner_id=scanner.id).count()
    titles = [f"burst {i}" for i in range(50)]
    await asyncio.to_thread(user.append, "INBOX", [mail(t) for t in titles])
    await wait_until(tickets_titled(*titles), "fifty tickets", limit=60)
    await wait_until(no_scan_pending(scanner), "the scans to end")
    await asyncio.sleep(2)  # any late, redundant request would have queued a run by now
    assert await ScanRun.filter(scanner_id=scanner.id).count() - runs_before <= 2
    assert await MessageLog.filter(scanner_id=scanner.id).count() == 50


async def test_mail_arriving_while_a_scan_runs_gets_a_scan_of_its_own_at_once(
    runner: Callable[..., Awaitable[EmbeddedRunner]], push_dovecot: DovecotServer  # noqa: F811
) -> None:
    # given a scan in progress over a big mailbox
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    await runner()
    await settled(scanner)
    await asyncio.to_thread(user.append, "INBOX", [mail(f"old {i}") for i in range(1500)])

    async def scanning() -> bool:
        return await ScanRun.filter(
            scanner_id=scanner.id, status=ScanRunStatus.RUNNING
        ).exists() and await MessageLog.filter(scanner_id=scanner.id).exists()

    await wait_until(scanning, "the scan of the big mailbox")
    # when one more mail arrives after that scan searched the folder
    await asyncio.to_thread(user.append, "INBOX", [mail("Arrived mid-scan")])
    # then it is scanned right after, by a push run queued behind the running one (not at
    # the next interval, an hour away, nor after a lock retry half a lock TTL later)
    await wait_until(tickets_titled("Arrived mid-scan"), "the mid-scan mail's ticket", limit=25)
    assert {r.trigger for r in await ScanRun.filter(scanner_id=scanner.id)} == {"push"}


async def test_the_watcher_reconnects_after_dovecot_restarts_and_the_next_message_arrives(
    runner: Callable[..., Awaitable[EmbeddedRunner]], push_dovecot: DovecotServer  # noqa: F811
) -> None:
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    started = await runner()
    await settled(scanner)
    # when Dovecot restarts under the idling connection
    await asyncio.to_thread(restart_dovecot, push_dovecot)
    watch = started.watchers.watches[scanner.id].folders[0]  # type: ignore[union-attr]

    async def noticed() -> bool:
        return watch.last_error is not None

    async def idling_after_the_drop() -> bool:
        # The state is written in batches: an IDLING row without the error may predate the drop.
        row = await PushStatus.filter(scanner_id=scanner.id).first()
        return row is not None and row.state == PushState.IDLING and bool(row.last_error)

    await wait_until(noticed, "the watcher to notice the dropped connection")
    await wait_until(idling_after_the_drop, "idling again")
    # then a message sent after the restart still becomes a ticket
    await asyncio.to_thread(user.append, "INBOX", [mail("After the restart")])
    await wait_until(tickets_titled("After the restart"), "the ticket", limit=30)
    # and the watcher is idling, with the drop still visible to an admin
    await wait_until(idling_after_the_drop, "idling after the new mail")


async def test_a_server_without_idle_is_polled_with_the_cheap_check_and_an_unchanged_mailbox_costs_no_scan(  # noqa: E501
    runner: Callable[..., Awaitable[EmbeddedRunner]],
    no_idle_dovecot: DovecotServer,  # noqa: F811
) -> None:
    # given a server without IDLE and a scanner whose interval is 1 "minute" of 1 s; the
    # safety-net cron is off here, so every scan comes from the watcher's polls
    user = no_idle_dovecot.add_user()
    scanner = await watched_scanner(user, scan_interval_minutes=1)
    jobs = JobsConfig(prefix="push:", minute_seconds=1, scan_timeout_seconds=60)
    started = await runner(jobs, cron=False)
    await settled(scanner, PushState.POLLING)
    watch = started.watchers.watches[scanner.id]  # type: ignore[union-attr]
    runs_before = await ScanRun.filter(scanner_id=scanner.id).count()
    polls_before = watch.polls

    async def polled_thrice() -> bool:
        return watch.polls >= polls_before + 3

    await wait_until(polled_thrice, "three polls")
    # then the unchanged mailbox cost no scan
    assert await ScanRun.filter(scanner_id=scanner.id).count() == runs_before
    # and a new message is found by the next poll
    await asyncio.to_thread(user.append, "INBOX", [mail("Found by polling")])
    await wait_until(tickets_titled("Found by polling"), "the ticket", limit=30)
    assert (await ScanRun.filter(scanner_id=scanner.id).order_by("-id").first()).trigger == "push"  # type: ignore[union-attr]


async def test_the_safety_net_scan_of_an_unchanged_mailbox_is_one_status_not_a_scan(
    runner: Callable[..., Awaitable[EmbeddedRunner]], push_dovecot: DovecotServer  # noqa: F811
) -> None:
    # given push off and the schedule ticking every second with a 1 s interval
    user = push_dovecot.add_user()
    user.append("INBOX", [mail("Before")])
    scanner = await watched_scanner(user, push=False, scan_interval_minutes=1, last_scan_at=None)
    jobs = JobsConfig(
        prefix="push:", tick_seconds=1, minute_seconds=1, scan_timeout_seconds=60
    )
    await runner(jobs)

    async def unchanged_run() -> bool:
        return await ScanRun.filter(
            scanner_id=scanner.id, status=ScanRunStatus.UNCHANGED
        ).exists()

    await wait_until(unchanged_run, "a safety-net scan that found nothing new")
    assert await MessageLog.filter(scanner_id=scanner.id).count() == 1
    unchanged = await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.UNCHANGED)
    assert all(r.processed == 0 and r.total == 0 and r.trigger == "schedule" for r in unchanged)
    # when mail arrives, the next safety-net scan reads it
    await asyncio.to_thread(user.append, "INBOX", [mail("After")])
    await wait_until(tickets_titled("Before", "After"), "the second ticket", limit=30)
    assert await PushStatus.filter(scanner_id=scanner.id).first() is None  # push was off


async def test_a_folder_that_fails_after_login_backs_off_and_says_why(
    db: Settings, push_dovecot: DovecotServer  # noqa: F811
) -> None:
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    await Rule.filter(scanner_id=scanner.id).update(folders=["No such folder"])
    runner = await start_embedded(
        db, HOURLY, watch=True, watch_config=WatchConfig(tick_seconds=0.5, max_backoff_seconds=8)
    )
    try:
        await wait_until(state_is(scanner, PushState.BACKING_OFF), "backing off")
        watch = runner.watchers.watches[scanner.id].folders[0]  # type: ignore[union-attr]
        await asyncio.sleep(6)
        # 0.5-1, 1-2, 2-4 s between attempts: a broken folder is not retried hot
        assert 2 <= watch.connects <= 4, watch.connects
    finally:
        await runner.stop()
    status = await PushStatus.get(scanner_id=scanner.id)
    assert status.last_error and "No such folder" in status.last_error


DEACTIVATE = "mutation($id: ID!) { deactivateScanner(id: $id) { __typename } }"
PUSH_OFF = (
    "mutation($id: ID!) { updateScanner(id: $id, input: {push: false}) { __typename } }"
)
HEALTH = "query($id: ID!) { scanner(id: $id) { push health { push { state lastEventAt } } } }"


async def graphql(db: Settings, document: str, scanner: Scanner) -> dict[str, Any]:
    from mailscanner.resolvers.auth import authenticate, create_token
    from mailscanner.resolvers.context import Context
    from mailscanner.resolvers.schema import schema

    context = Context(
        settings=db, principal=await authenticate(await create_token(Role.ADMIN, "admin"))
    )
    result = await schema.execute(
        document, variable_values={"id": str(scanner.id)}, context_value=context
    )
    assert result.errors is None and result.data is not None, result.errors
    return result.data


@pytest.mark.parametrize("mutation", [DEACTIVATE, PUSH_OFF], ids=["deactivate", "push off"])
async def test_deactivating_or_turning_push_off_closes_the_connections(
    db: Settings,
    runner: Callable[..., Awaitable[EmbeddedRunner]],
    push_dovecot: DovecotServer,  # noqa: F811
    mutation: str,
) -> None:
    user = push_dovecot.add_user()
    scanner = await watched_scanner(user)
    await add_rule(scanner, "size > 0", [TICKET], folders=["Trash"])
    await runner()
    await settled(scanner)
    health = await graphql(db, HEALTH, scanner)
    assert health["scanner"]["health"]["push"]["state"] == "IDLING"
    assert health["scanner"]["push"] is True

    async def two_connections() -> bool:
        return connections(push_dovecot, user.name) == 2  # INBOX and Trash

    await wait_until(two_connections, "one connection per watched folder")
    # when the admin deactivates the scanner (or turns push off)
    await graphql(db, mutation, scanner)

    # then Dovecot sees the connections go, and the API shows nobody watching
    async def closed() -> bool:
        return connections(push_dovecot, user.name) == 0

    await wait_until(closed, "the connections to close", limit=10)
    await wait_until(lambda: _push_gone(db, scanner), "the push state to clear", limit=10)


async def _push_gone(db: Settings, scanner: Scanner) -> bool:
    return (await graphql(db, HEALTH, scanner))["scanner"]["health"]["push"] is None
