"""runScanner and the live subscriptions (scanRunProgress, ticketEvents)."""

# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis

from mailscanner import events
from mailscanner.models import Comment, Scanner, ScanRun, ScanRunStatus, Ticket
from mailscanner.resolvers.auth import authenticate
from mailscanner.resolvers.context import Context
from mailscanner.resolvers.schema import schema
from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.redis_events import RedisBroker
from mailscanner.workers.runtime import EmbeddedRunner, start_embedded

from ..workers.fixtures import jobs_config, redis  # noqa: F401
from .conftest import Api

RUN_SCANNER = """
mutation($id: ID!) { runScanner(id: $id) {
  __typename
  ... on RunScannerPayload { alreadyActive scanRun { id status trigger scannerId } }
  ... on NotFoundError { message }
} }"""

PROGRESS = """
subscription($id: ID!) {
  scanRunProgress(scanRunId: $id) { id status processed total counts { ticketsCreated } }
}
"""

TICKET_EVENTS = """
subscription($id: ID) { ticketEvents(ticketId: $id) { kind ticketId commentId ticket { number } } }
"""

ADD_COMMENT = """
mutation($t: ID!, $body: String!) { addComment(ticketId: $t, body: $body, internal: true) {
  __typename ... on CommentPayload { comment { id } } } }
"""


class GatedScan:
    """Stands in for the pipeline: reports progress like it, finishes when the test says so."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, scanner_id: int, scan_run_id: int | None = None, **kw: Any) -> ScanRun:
        run = await ScanRun.get(id=scan_run_id)
        self.started.set()
        for done in (1, 2, 3):
            await self.go.wait()
            self.go.clear()
            await ScanRun.filter(id=run.id).update(processed=done, total=3)
            await events.publish(events.scan_run_channel(run.id), {"processed": done, "total": 3})
        await self.go.wait()
        await ScanRun.filter(id=run.id).update(
            status=ScanRunStatus.SUCCEEDED, counts={"tickets_created": 3}
        )
        await events.publish(events.scan_run_channel(run.id), {"status": "succeeded"})
        return run


@pytest.fixture
async def runner(api: Api, db: Settings, jobs_config: JobsConfig) -> AsyncIterator[EmbeddedRunner]:  # noqa: F811
    runner = await start_embedded(db, jobs_config, cron=False)
    yield runner
    await runner.stop(grace=0)


async def context(api: Api, settings: Settings, who: str = "admin") -> Context:
    """What the GraphQL view builds for a WebSocket connection authenticated as `who`."""
    principal = await authenticate(api.admin_token if who == "admin" else api.agent_token)
    assert principal is not None
    return Context(settings=settings, principal=principal)


async def test_run_scanner_queues_a_run_and_returns_the_active_one_when_asked_again(
    api: Api, runner: EmbeddedRunner
) -> None:
    # given a scanner whose scan will be in flight
    scan = GatedScan()
    runner.queue.ctx["run_scan"] = scan
    scanner = await Scanner.create(name="support", host="imap.example.com")
    # when an admin runs it twice
    first = (await api.gql(RUN_SCANNER, {"id": str(scanner.id)}))["runScanner"]
    await scan.started.wait()
    second = (await api.gql(RUN_SCANNER, {"id": str(scanner.id)}))["runScanner"]
    # then both answers are the same run, and the second says it was already active
    assert first["__typename"] == "RunScannerPayload" and not first["alreadyActive"]
    assert first["scanRun"]["status"] == "QUEUED" and first["scanRun"]["trigger"] == "manual"
    assert second["alreadyActive"] and second["scanRun"]["id"] == first["scanRun"]["id"]
    assert second["scanRun"]["status"] == "RUNNING"
    while runner.queue.pending():
        scan.go.set()
        await asyncio.sleep(0.01)
    assert await ScanRun.all().count() == 1


async def test_run_scanner_of_an_unknown_id_is_not_found_and_agents_may_not(
    api: Api, runner: EmbeddedRunner
) -> None:
    assert (await api.gql(RUN_SCANNER, {"id": "999"}))["runScanner"][
        "__typename"
    ] == "NotFoundError"
    assert (await api.gql(RUN_SCANNER, {"id": "abc"}))["runScanner"][
        "__typename"
    ] == "NotFoundError"
    denied = (await api.post(RUN_SCANNER, {"id": "1"}, token="agent")).json()
    assert denied["errors"][0]["message"] == "Only administrators may do this"


async def test_scan_run_progress_streams_until_the_run_finishes(
    api: Api, db: Settings, runner: EmbeddedRunner
) -> None:
    # given a queued scan that reports progress step by step
    scan = GatedScan()
    runner.queue.ctx["run_scan"] = scan
    scanner = await Scanner.create(name="support", host="imap.example.com")
    run_id = (await api.gql(RUN_SCANNER, {"id": str(scanner.id)}))["runScanner"]["scanRun"]["id"]
    await scan.started.wait()
    # when an admin subscribes
    stream = await schema.subscribe(
        PROGRESS, variable_values={"id": run_id}, context_value=await context(api, db)
    )
    assert not isinstance(stream, type(None))
    seen: list[dict[str, Any]] = []
    async for result in stream:
        assert result.errors is None, result.errors
        assert result.data is not None
        seen.append(result.data["scanRunProgress"])
        scan.go.set()  # the next step only after we saw this one
    # then it saw the run as it was, each step, and the end; then the stream completed
    assert [s["processed"] for s in seen] == [0, 1, 2, 3, 3]
    assert seen[0]["status"] == "RUNNING" and seen[-1]["status"] == "SUCCEEDED"
    assert seen[-1]["counts"]["ticketsCreated"] == 3


async def test_progress_of_an_unknown_run_is_a_clear_error(api: Api, db: Settings) -> None:
    stream = await schema.subscribe(
        PROGRESS, variable_values={"id": "404"}, context_value=await context(api, db)
    )
    result = await stream.__anext__()
    assert result.errors and result.errors[0].message == "ScanRun 404 not found"


async def test_agents_may_not_follow_scan_progress(api: Api, db: Settings) -> None:
    stream = await schema.subscribe(
        PROGRESS, variable_values={"id": "1"}, context_value=await context(api, db, "agent")
    )
    result = await stream.__anext__()
    assert result.errors and result.errors[0].message == "Only administrators may do this"


@pytest.fixture(params=["in-process", "redis"])
async def broker(
    request: pytest.FixtureRequest,
    jobs_config: JobsConfig,  # noqa: F811
    redis: ArqRedis,
) -> AsyncIterator[str]:  # noqa: F811
    if request.param == "in-process":
        yield request.param
        return
    redis_broker = RedisBroker(redis, jobs_config)
    events.set_broker(redis_broker)
    try:
        yield request.param
    finally:
        events.set_broker(events.InProcessBroker())
        await redis_broker.close()


async def test_ticket_events_deliver_a_new_comment_to_an_agent(
    api: Api, db: Settings, broker: str
) -> None:
    # given an agent following one ticket
    ticket = await Ticket.create(number="TT9", title="Printer")
    other = await Ticket.create(number="TT10", title="Scanner")
    stream = await schema.subscribe(
        TICKET_EVENTS,
        variable_values={"id": str(ticket.id)},
        context_value=await context(api, db, "agent"),
    )
    first = asyncio.ensure_future(stream.__anext__())

    # when comments are added to the other ticket and to this one (repeated until the
    # subscription, which registers asynchronously, has seen one)
    while not first.done():
        await api.gql(ADD_COMMENT, {"t": str(other.id), "body": "not this one"}, token="agent")
        await api.gql(ADD_COMMENT, {"t": str(ticket.id), "body": "We are on it."}, token="agent")
        await asyncio.wait({first}, timeout=0.2)

    # then the agent got this ticket's comment, with the ticket
    result = first.result()
    assert result.errors is None, result.errors
    assert result.data is not None
    event = result.data["ticketEvents"]
    assert event["kind"] == "COMMENT_ADDED" and event["ticketId"] == str(ticket.id)
    assert event["ticket"] == {"number": "TT9"}
    comment = await Comment.get(id=int(event["commentId"]))
    assert comment.ticket_id == ticket.id  # type: ignore[attr-defined]
    await stream.aclose()
