"""Run a scanner now; follow a scan's progress and ticket activity live (subscriptions).

Subscriptions listen to `events` (in-process, or Redis pub/sub when REDIS_URL is set, so
events from any worker arrive) and treat the database as the truth: a scan's progress is
re-read from its ScanRun on each event, and also every few seconds, so a missed event (a
subscriber joining between two publishes, a Redis blip) only delays an update.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry

from .. import events, models
from ..schema.jobs import RunScannerPayload, RunScannerResult, TicketEventType
from ..schema.scanning import ScanRunType
from ..workers.scan import ScannerNotFound, enqueue_scan_run
from .common import PublicError, not_found, parse_id
from .context import Info
from .permissions import IsAdmin, IsAgent

RECHECK_SECONDS = 3.0
FINISHED = (
    models.ScanRunStatus.SUCCEEDED, models.ScanRunStatus.FAILED, models.ScanRunStatus.UNCHANGED
)


@strawberry.type
class JobMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Scan the mailbox now. Returns the queued run, or the scan already queued or running "
            "(a scanner is never scanned twice at once). Works for inactive scanners too."
        ),
    )
    async def run_scanner(self, info: Info, id: strawberry.ID) -> RunScannerResult:
        try:
            number = parse_id(id, "id")
        except PublicError:
            return not_found("Scanner", id)
        try:
            run, created = await enqueue_scan_run(number or 0, "manual")
        except ScannerNotFound:
            return not_found("Scanner", id)
        return RunScannerPayload(scan_run=ScanRunType.from_model(run), already_active=not created)


class _Listener:
    """An events subscription that is registered before the caller reads the database."""

    def __init__(self, channel: str) -> None:
        self._stream: AsyncIterator[dict[str, Any]] = events.subscribe(channel)
        self._next: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(self._stream.__anext__())

    async def start(self) -> None:
        await asyncio.sleep(0)  # let the subscription register itself

    async def next(self, timeout: float | None) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds without one."""
        done, _ = await asyncio.wait({self._next}, timeout=timeout)
        if not done:
            return None
        event = self._next.result()
        self._next = asyncio.ensure_future(self._stream.__anext__())
        return event

    async def close(self) -> None:
        self._next.cancel()
        with contextlib.suppress(BaseException):
            await self._next
        await self._stream.aclose()  # type: ignore[attr-defined]


def _progress_key(run: models.ScanRun) -> tuple[Any, ...]:
    return (
        run.status,
        run.processed,
        run.total,
        tuple(sorted((run.counts or {}).items())),
        run.error,
    )


@strawberry.type
class JobSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAdmin],
        description=(
            "A scan run as it progresses (processed/total/counts), first as it is now, then on "
            "each change; completes when the run has succeeded or failed."
        ),
    )
    async def scan_run_progress(
        self, info: Info, scan_run_id: strawberry.ID
    ) -> AsyncGenerator[ScanRunType, None]:
        number = parse_id(scan_run_id, "scanRunId")
        listener = _Listener(events.scan_run_channel(number or 0))
        try:
            await listener.start()
            run = await models.ScanRun.get_or_none(id=number)
            if run is None:
                raise PublicError(f"ScanRun {scan_run_id} not found")
            yield ScanRunType.from_model(run)
            last = _progress_key(run)
            while run.status not in FINISHED:
                await listener.next(RECHECK_SECONDS)
                await run.refresh_from_db()
                if _progress_key(run) != last:
                    last = _progress_key(run)
                    yield ScanRunType.from_model(run)
        finally:
            await listener.close()

    @strawberry.subscription(
        permission_classes=[IsAgent],
        description=(
            "Ticket activity as it happens: created, updated, comment added, comment email sent or "
            "failed. Give ticketId to follow one ticket."
        ),
    )
    async def ticket_events(
        self,
        info: Info,
        ticket_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TicketEventType, None]:
        wanted = parse_id(ticket_id, "ticketId") if ticket_id is not None else None
        listener = _Listener(events.TICKETS_CHANNEL)
        try:
            await listener.start()
            while True:
                event = await listener.next(None)
                if event is None or (wanted is not None and event.get("ticket_id") != wanted):
                    continue
                shaped = TicketEventType.from_event(event)
                if shaped is not None:
                    yield shaped
        finally:
            await listener.close()
