"""Where a scanner's scanning starts, recorded when it is activated.

Activation (resolvers: `activateScanner`) opens the mailbox, read-only, and for every
folder the active rules use that has no checkpoint yet records its UIDNEXT as the folder's
`start_uid` (checkpoints.start_values): with start from NOW the first scan reads only mail
above it; with history import the mail below it is the history. It then counts what the
first scan will take (preview.py). A folder the mailbox lacks, or a mailbox that cannot be
reached, is no obstacle: that folder's start is then recorded at its first read.

Once a scanner has started (a checkpoint exists or a scan ran), its start setting no longer
changes anything, so changing it is refused (`LOCKED` says why).
"""

from __future__ import annotations

import contextlib

from tortoise.exceptions import IntegrityError

from ..models import FolderState, Scanner
from ..transport.errors import ErrorCode, MailError
from ..transport.imap import MailboxSession
from .checkpoints import start_values
from .connect import open_session
from .preview import FolderPreview, preview_folder
from .process import load_rules

__all__ = ["LOCKED", "has_started", "rule_folders", "scan_preview"]


async def has_started(scanner: Scanner) -> bool:
    """Whether the scanner began: a scan ran, or activation recorded a folder's start."""
    return (
        scanner.last_scan_at is not None
        or await FolderState.filter(scanner_id=scanner.id).exists()
    )


LOCKED = (
    "This scanner has already started (it was activated or has scanned): its checkpoints, "
    "not its start setting, now decide what it reads, so where it starts and how it imports "
    "history can no longer change. Create a new scanner to start elsewhere."
)


async def rule_folders(scanner: Scanner) -> list[str]:
    """The folders the scanner's active rules read, in rule order (as a scan visits them)."""
    return list(dict.fromkeys(f for rule in await load_rules(scanner) for f in rule.folders))


async def _record_start(session: MailboxSession, scanner: Scanner, folder: str) -> None:
    try:
        status = await session.examine(folder)
    except MailError as exc:
        if exc.code == ErrorCode.FOLDER_NOT_FOUND:
            return  # recorded at its first read, when it exists
        raise
    if await FolderState.exists(scanner_id=scanner.id, folder=folder):
        return
    state = FolderState(scanner_id=scanner.id, folder=folder, uidvalidity=status.uidvalidity)
    state.update_from_dict(start_values(scanner, status.uidnext))
    with contextlib.suppress(IntegrityError):  # a scan of it just recorded its own
        await state.save()


async def scan_preview(scanner: Scanner, *, record_start: bool = False) -> list[FolderPreview]:
    """Per folder the active rules use: what the next scan would read (preview.py); with
    `record_start`, first record where each folder not read before starts (activation).
    Raises MailError when the mailbox cannot be reached."""
    folders = await rule_folders(scanner)
    out = []
    async with await open_session(scanner) as session:
        for folder in folders:
            if record_start:
                await _record_start(session, scanner, folder)
            out.append(await preview_folder(session, scanner, folder))
    return out
