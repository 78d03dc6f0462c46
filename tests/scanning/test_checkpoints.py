"""Folder checkpoints when two scans of one scanner overlap (a lock handed over to another
worker while the first still finishes its batch): neither fails, none moves back."""

from __future__ import annotations

import asyncio

from mailscanner.models import FolderState, Scanner
from mailscanner.scanning import checkpoints
from mailscanner.settings import Settings


async def test_two_scans_reading_a_new_folder_at_once_share_one_checkpoint(db: Settings) -> None:
    scanner = await Scanner.create(name="s", host="h", username="u")
    # when: both look for the folder's checkpoint before either created it
    (a, a_first), (b, b_first) = await asyncio.gather(
        checkpoints.load_checkpoint(scanner, "INBOX", 42),
        checkpoints.load_checkpoint(scanner, "INBOX", 42),
    )
    # then
    assert a.id == b.id and (a_first or b_first)
    assert await FolderState.filter(scanner_id=scanner.id).count() == 1


async def test_a_checkpoint_never_moves_back_when_a_slower_scan_advances_it(db: Settings) -> None:
    scanner = await Scanner.create(name="s", host="h", username="u")
    fast, _ = await checkpoints.load_checkpoint(scanner, "INBOX", 42)
    slow, _ = await checkpoints.load_checkpoint(scanner, "INBOX", 42)
    await checkpoints.advance(fast, 500)
    await checkpoints.advance(slow, 400)  # its own copy still says 0
    assert (await FolderState.get(id=fast.id)).last_uid == 500
