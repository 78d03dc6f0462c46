"""Before activating: how much mail is there, and how much of it would the scanner read?

Per folder the rules use, read-only (EXAMINE, no checkpoint created): the message count,
what the next scan reads (the scan's own `checkpoints.pick`, minus logged mail), what the
scan type alone would read from scratch, the difference (left alone by `startFrom`, or
already behind the checkpoint), and the INTERNALDATE range of both. Dates come from one
FETCH of INTERNALDATE per message; beyond EXACT_DATES messages only the lowest and highest
DATE_SAMPLE UIDs are read and the range is marked approximate (INTERNALDATE is not ordered
by UID, but nearly so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import FolderState, Scanner, StartFrom
from ..transport.errors import ErrorCode, MailError
from ..transport.imap import MailboxSession
from . import checkpoints

__all__ = ["EXACT_DATES", "FolderPreview", "preview_folder"]

EXACT_DATES = 20_000  # messages whose dates are all read for a range
DATE_SAMPLE = 1_000  # lowest and highest UIDs read for the range of a bigger set


@dataclass(frozen=True)
class FolderPreview:
    """One folder: `messages` in it, `would_scan` by the next scan, `scan_type_picks` by the
    scan type alone from scratch, `left_alone` the difference; dates are INTERNALDATE."""

    folder: str
    messages: int = 0
    would_scan: int = 0
    scan_type_picks: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    first_to_scan: datetime | None = None
    last_to_scan: datetime | None = None
    dates_approximate: bool = False
    error: str | None = None  # the folder does not exist

    @property
    def left_alone(self) -> int:
        return max(0, self.scan_type_picks - self.would_scan)

    @property
    def summary(self) -> str:
        """ "4,812 messages, 37 would be scanned" """
        if self.error:
            return self.error
        text = f"{self.messages:,} message{'s' if self.messages != 1 else ''}, "
        text += f"{self.would_scan:,} would be scanned"
        if self.left_alone:
            text += f", {self.left_alone:,} left alone"
        return text


async def _range(
    session: MailboxSession, uids: list[int]
) -> tuple[datetime | None, datetime | None, bool]:
    if not uids:
        return None, None, False
    approximate = len(uids) > EXACT_DATES
    sample = uids if not approximate else uids[:DATE_SAMPLE] + uids[-DATE_SAMPLE:]
    dates = [m.arrived for m in await session.fetch_meta(sample)]
    if not dates:
        return None, None, approximate
    return min(dates), max(dates), approximate


async def preview_folder(session: MailboxSession, scanner: Scanner, folder: str) -> FolderPreview:
    """Count one folder (see the module docstring); a missing folder is reported, not raised."""
    try:
        status = await session.examine(folder)
    except MailError as exc:
        if exc.code != ErrorCode.FOLDER_NOT_FOUND:
            raise
        return FolderPreview(folder, error=exc.message)
    uidvalidity = status.uidvalidity
    state, _ = await checkpoints.peek_checkpoint(scanner, folder, uidvalidity, status.uidnext)
    upcoming = await checkpoints.unlogged(
        scanner.id, folder, uidvalidity, await checkpoints.pick(session, scanner, state)
    )
    # The scan type alone, from scratch: the same scanner starting from ALL, no checkpoint.
    fresh = FolderState(scanner_id=scanner.id, folder=folder, uidvalidity=uidvalidity)
    everything = await checkpoints.pick(session, scanner, fresh, StartFrom.ALL)
    picks = await checkpoints.unlogged(scanner.id, folder, uidvalidity, everything)
    all_uids = await session.search(["ALL"])
    oldest, newest, approx = await _range(session, all_uids)
    first, last, approx_scan = await _range(session, upcoming)
    return FolderPreview(
        folder,
        messages=status.exists,
        would_scan=len(upcoming),
        scan_type_picks=len(picks),
        oldest=oldest,
        newest=newest,
        first_to_scan=first,
        last_to_scan=last,
        dates_approximate=approx or approx_scan,
    )
