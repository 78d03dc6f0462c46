"""All watched folders of one scanner: their tasks, their combined state, their news."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..models import FolderState, Scanner, ScanType
from ..scanning.connect import imap_settings
from ..transport.imap import ImapSettings
from .config import WatchConfig
from .folder import FolderTarget, FolderWatch, Pacer
from .status import Snapshot, StatusWriter, worst


@dataclass(frozen=True)
class ScannerTarget:
    """What to watch for one scanner; a change to any part restarts its watchers."""

    scanner_id: int
    folders: tuple[str, ...]
    scan_type: ScanType
    poll_seconds: float
    version: str  # the scanner row's updated_at: host, login, password... changed


async def credentials(scanner_id: int) -> ImapSettings:
    """Credentials for this scanner now: the one seam (OAuth scanners get a fresh token
    each time a watcher connects, so a reconnect never uses an expired one)."""
    return await imap_settings(await Scanner.get(id=scanner_id))


async def stored_signature(scanner_id: int, folder: str) -> str | None:
    row = await FolderState.filter(scanner_id=scanner_id, folder=folder).first()
    return row.status_signature if row is not None else None


class ScannerWatch:
    def __init__(
        self,
        target: ScannerTarget,
        request_scan: Callable[[int], None],
        writer: StatusWriter,
        config: WatchConfig,
        pacer: Pacer,
    ) -> None:
        self.target = target
        self._request_scan = request_scan
        self._writer = writer
        sid = target.scanner_id
        self.folders = [
            FolderWatch(
                FolderTarget(sid, folder, target.scan_type, target.poll_seconds),
                lambda: credentials(sid),
                lambda folder=folder: stored_signature(sid, folder),  # type: ignore[misc]
                self._on_change,
                self._on_state,
                config,
                pacer,
            )
            for folder in target.folders
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(f.run(), name=f"watch {self.target.scanner_id} {f.target.folder}")
            for f in self.folders
        ]
        self._on_state(self.folders[0])

    async def stop(self, *, forget: bool) -> None:
        """Close every connection (LOGOUT, a second at most); `forget` clears the shown state
        (the scanner is no longer watched at all, rather than watched elsewhere now)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if forget:
            self._writer.mark(self.target.scanner_id, Snapshot(None, None, None, None))

    def _on_change(self, why: str) -> None:
        self._request_scan(self.target.scanner_id)

    def _on_state(self, changed: FolderWatch) -> None:
        state = worst([f.state for f in self.folders])
        since = max(f.since for f in self.folders if f.state == state)
        events = [f.last_event_at for f in self.folders if f.last_event_at is not None]
        self._writer.mark(
            self.target.scanner_id,
            Snapshot(state, since, max(events) if events else None, changed.last_error),
        )

    @property
    def polls(self) -> int:
        return sum(f.polls for f in self.folders)
