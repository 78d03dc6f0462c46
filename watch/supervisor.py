"""The watchers of one process: which scanners to watch, starting and stopping them.

Every tick (and at once when told a scanner changed, through the `watch` event channel)
the supervisor reads which scanners want push (active, push on, with folders in their
active rules), asks its `Assignment` which of those are its own now (all of them in the
embedded mode, its leased share with Redis), then stops the watchers of scanners that are
no longer its own or whose configuration changed and starts the missing ones. A failing
tick is logged and the next one tries again; watchers already running keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from typing import Protocol

from .. import events
from ..models import Rule, Scanner
from ..transport.imap_idle import small_tls_buffers
from ..workers.config import JobsConfig
from .config import WatchConfig
from .folder import Pacer
from .requests import ScanRequests
from .scanner import ScannerTarget, ScannerWatch
from .status import StatusWriter

logger = logging.getLogger(__name__)

WATCH_CHANNEL = "watch"


class Assignment(Protocol):
    async def claim(self, wanted: set[int]) -> set[int]:
        """Of the scanners wanting push, those this process watches now."""
        ...

    async def stop(self) -> None: ...


def raise_fd_limit() -> None:
    """One socket per watched folder: lift the soft open-files limit (often 1,024) to the
    hard one, as servers holding many connections do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            logger.info("open files limit raised from %s to %s", soft, hard)


async def notify_scanner_changed(scanner_id: int) -> None:
    """Tell every watcher process to look at this scanner now (activation, push, settings)."""
    await events.publish(WATCH_CHANNEL, {"scanner_id": scanner_id})


async def load_targets(jobs: JobsConfig) -> dict[int, ScannerTarget]:
    scanners = await Scanner.filter(active=True, push=True).values(
        "id", "scan_type", "scan_interval_minutes", "updated_at"
    )
    folders: dict[int, list[str]] = {}
    rules = (
        await Rule.filter(active=True, scanner__active=True, scanner__push=True)
        .order_by("sequence", "id")
        .values("scanner_id", "folders")
    )
    for rule in rules:
        folders.setdefault(int(rule["scanner_id"]), []).extend(rule["folders"] or [])
    targets = {}
    for row in scanners:
        wanted = tuple(dict.fromkeys(folders.get(int(row["id"]), [])))
        if not wanted:
            continue
        targets[int(row["id"])] = ScannerTarget(
            int(row["id"]),
            wanted,
            row["scan_type"],
            max(1, int(row["scan_interval_minutes"])) * jobs.minute_seconds,
            str(row["updated_at"]),
        )
    return targets


class Supervisor:
    def __init__(
        self,
        assignment: Assignment,
        config: WatchConfig | None = None,
        jobs: JobsConfig | None = None,
        requests: ScanRequests | None = None,
    ) -> None:
        self.assignment = assignment
        self.config = config or WatchConfig.from_env()
        self.jobs = jobs or JobsConfig.from_env()
        self.requests = requests or ScanRequests()
        self.writer = StatusWriter()
        self.pacer = Pacer(self.config.connects_per_second)
        self.watches: dict[int, ScannerWatch] = {}
        self._targets: dict[int, ScannerTarget] = {}
        self._loaded_at = float("-inf")
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ticks = 0

    async def start(self) -> None:
        raise_fd_limit()
        small_tls_buffers()
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._loop(), name="watch supervisor"),
            asyncio.create_task(self._listen(), name="watch wake-ups"),
        ]

    def wake(self) -> None:
        self._loaded_at = float("-inf")
        self._wake.set()

    async def _listen(self) -> None:
        while True:
            try:
                async for _ in events.subscribe(WATCH_CHANNEL):
                    self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — the periodic reload still sees changes
                logger.warning("watch wake-ups: subscription failed", exc_info=True)
                await asyncio.sleep(self.config.tick_seconds)

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — running watchers keep running; next tick retries
                logger.exception("watch supervisor tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.tick_seconds)
            self._wake.clear()

    async def reconcile(self) -> None:
        if time.monotonic() - self._loaded_at >= self.config.reload_seconds:
            self._loaded_at = time.monotonic()
            self._targets = await load_targets(self.jobs)
        owned = await self.assignment.claim(set(self._targets))
        stopping = [
            sid
            for sid, watch in self.watches.items()
            if sid not in owned or self._targets.get(sid) != watch.target
        ]
        await asyncio.gather(
            *(self.watches.pop(sid).stop(forget=sid not in self._targets) for sid in stopping)
        )
        for sid in sorted(owned - set(self.watches)):
            watch = ScannerWatch(
                self._targets[sid], self.requests.request, self.writer, self.config, self.pacer
            )
            self.watches[sid] = watch
            watch.start()
        self.ticks += 1

    async def stop(self) -> None:
        """Close every connection, save the states, give the leases back."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        watches, self.watches = list(self.watches.values()), {}
        await asyncio.gather(*(w.stop(forget=True) for w in watches))
        await self.requests.close()
        await self.writer.close()
        try:
            await self.assignment.stop()
        except Exception:  # noqa: BLE001 — the leases expire by themselves
            logger.warning("could not give the watch leases back", exc_info=True)
