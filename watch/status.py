"""The push state of each watched scanner, written to `PushStatus` rows behind the watchers.

Watchers only mark a scanner dirty; one writer task saves the latest snapshot of each dirty
scanner every half second, so a thousand connections coming up cost a thousand small
UPDATEs spread over the ramp, never a write per IMAP response. A failed write is logged
and retried with the next change (the state is a display, not the record of any mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from ..models import PushState, PushStatus

logger = logging.getLogger(__name__)

WATCHER_NAME = f"{socket.gethostname()}:{os.getpid()}"
# Worst first: a scanner shows the state of its least healthy folder.
_RANK = [PushState.BACKING_OFF, PushState.CONNECTING, PushState.POLLING, PushState.IDLING]


@dataclass(frozen=True)
class Snapshot:
    state: PushState | None
    since: datetime | None
    last_event_at: datetime | None
    last_error: str | None


def worst(states: list[PushState]) -> PushState:
    return min(states, key=_RANK.index)


class StatusWriter:
    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self._dirty: dict[int, Snapshot] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="push status writer")

    def mark(self, scanner_id: int, snapshot: Snapshot) -> None:
        self._dirty[scanner_id] = snapshot

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.flush()

    async def flush(self) -> None:
        batch, self._dirty = self._dirty, {}
        for scanner_id, snap in batch.items():
            try:
                await save(scanner_id, snap)
            except Exception:  # noqa: BLE001 — retried with the scanner's next change
                logger.warning("could not save push state of %s", scanner_id, exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


async def save(scanner_id: int, snap: Snapshot) -> None:
    values: dict[str, Any] = {
        "state": snap.state,
        "since": snap.since,
        "watcher": WATCHER_NAME if snap.state is not None else None,
    }
    # A new watcher knows no history: keep the last event and error a previous one saw.
    if snap.last_event_at is not None:
        values["last_event_at"] = snap.last_event_at
    if snap.last_error is not None:
        values["last_error"] = snap.last_error
    if await PushStatus.filter(scanner_id=scanner_id).update(**values):
        return
    with contextlib.suppress(IntegrityError):  # created meanwhile: the next change updates it
        await PushStatus.create(scanner_id=scanner_id, **values)
