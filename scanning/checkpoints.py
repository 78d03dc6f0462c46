"""Per-folder checkpoints and the choice of which UIDs a scan reads.

`FolderState.last_uid` means "every message up to here has a log row and its IMAP side
effects are done" under `uidvalidity`. When the server's UIDVALIDITY changes, the UIDs
mean nothing any more: the checkpoint restarts at 0 and messages already processed under
an older UIDVALIDITY are recognised by Message-ID (see `reread_message_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from ..mail.parsing import parse_email
from ..models import FolderState, MessageLog, Scanner, ScanType
from ..transport.imap import MailboxSession

__all__ = [
    "advance",
    "already_logged",
    "load_checkpoint",
    "peek_checkpoint",
    "pick",
    "reread_ids",
    "reread_message_ids",
    "search_criteria",
    "unlogged",
]


async def load_checkpoint(
    scanner: Scanner, folder: str, uidvalidity: int
) -> tuple[FolderState, bool]:
    """The folder's state, reset when UIDVALIDITY changed; (state, is_first_read)."""
    state = await FolderState.filter(scanner_id=scanner.id, folder=folder).first()
    if state is None:
        try:
            state = await FolderState.create(
                scanner_id=scanner.id, folder=folder, uidvalidity=uidvalidity, last_uid=0
            )
            return state, True
        except IntegrityError:
            # Another scan of this scanner (a worker taking it over) created it just now.
            state = await FolderState.get(scanner_id=scanner.id, folder=folder)
    if state.uidvalidity != uidvalidity:
        state.uidvalidity = uidvalidity
        state.last_uid = 0
        await state.save(update_fields=["uidvalidity", "last_uid", "updated_at"])
        return state, True
    return state, False


def search_criteria(scanner: Scanner, state: FolderState, first_read: bool) -> list[Any]:
    """UID SEARCH criteria for the scan type; the first read honours scanner.scan_from."""
    since: list[Any] = []
    if scanner.scan_from is not None:
        scan_from: datetime = scanner.scan_from
        since = ["SINCE", scan_from.date()]
    if scanner.scan_type == ScanType.UNREAD:
        return ["UNSEEN", *since]
    if first_read or state.last_uid == 0:
        return since or ["ALL"]
    return ["UID", f"{state.last_uid + 1}:*"]


async def peek_checkpoint(
    scanner: Scanner, folder: str, uidvalidity: int
) -> tuple[FolderState, bool]:
    """`load_checkpoint` without writing: an unsaved state where it would create or reset
    one (for dry runs and previews, which must change nothing)."""
    state = await FolderState.filter(scanner_id=scanner.id, folder=folder).first()
    if state is not None and state.uidvalidity == uidvalidity:
        return state, False
    return FolderState(scanner_id=scanner.id, folder=folder, uidvalidity=uidvalidity), True


async def pick(
    session: MailboxSession, scanner: Scanner, state: FolderState, first_read: bool
) -> list[int]:
    """The UIDs a scan reads next in the selected folder, in order (before dropping the
    ones already logged): the scan type's search, above the checkpoint where it counts."""
    criteria = search_criteria(scanner, state, first_read)
    uids = await session.search(criteria)
    return [u for u in uids if u > state.last_uid] if criteria[0] == "UID" else uids


def uid_set(uids: list[int]) -> dict[str, Any]:
    """Filter arguments for `uid` in `uids` (non-empty). The range bounds are redundant for
    the result but let PostgreSQL walk the unique index to just that range: with `IN` alone,
    a plan made while the table was small or never analyzed (a first scan) reads every row
    of the folder for each batch, which made a 10,000-mail first scan quadratic."""
    return {"uid__in": uids, "uid__gte": min(uids), "uid__lte": max(uids)}


async def already_logged(
    scanner_id: int, folder: str, uidvalidity: int, uids: Iterable[int]
) -> set[int]:
    """UIDs that have a log row: processed (or quarantined) before, never again."""
    uid_list = list(uids)
    if not uid_list:
        return set()
    rows = await MessageLog.filter(
        scanner_id=scanner_id, folder=folder, uidvalidity=uidvalidity, **uid_set(uid_list)
    ).values_list("uid", flat=True)
    return {int(u) for u in rows}  # type: ignore[call-overload]  # flat=True gives scalars


LOGGED_CHUNK = 5000  # UIDs per query when many are checked (previews, dry runs)


async def unlogged(scanner_id: int, folder: str, uidvalidity: int, uids: list[int]) -> list[int]:
    """`uids` without the ones that have a log row, in order (any number of UIDs)."""
    out: list[int] = []
    for i in range(0, len(uids), LOGGED_CHUNK):
        chunk = uids[i : i + LOGGED_CHUNK]
        logged = await already_logged(scanner_id, folder, uidvalidity, chunk)
        out.extend(u for u in chunk if u not in logged)
    return out


async def has_older_generation(scanner_id: int, folder: str, uidvalidity: int) -> bool:
    """Did this folder ever have another UIDVALIDITY (deleted and re-created, restored)?"""
    return (
        await MessageLog.filter(scanner_id=scanner_id, folder=folder)
        .exclude(uidvalidity=uidvalidity)
        .exists()
    )


async def reread_message_ids(
    scanner_id: int, folder: str, uidvalidity: int, message_ids: Iterable[str]
) -> set[str]:
    """Message-IDs already processed from this folder under an older UIDVALIDITY."""
    ids = [m for m in message_ids if m]
    if not ids:
        return set()
    rows = (
        await MessageLog.filter(scanner_id=scanner_id, folder=folder, message_id__in=ids)
        .exclude(uidvalidity=uidvalidity)
        .values_list("message_id", flat=True)
    )
    return {str(m) for m in rows}


async def reread_ids(
    scanner_id: int, folder: str, uidvalidity: int, raws: Iterable[bytes]
) -> set[str]:
    """Message-IDs among these messages that were processed under an older UIDVALIDITY
    (ask only when `has_older_generation`: it parses every message for its Message-ID)."""
    ids = [parse_email(raw).message_id or "" for raw in raws]
    return await reread_message_ids(scanner_id, folder, uidvalidity, ids)


async def advance(state: FolderState, uid: int) -> None:
    """Move the checkpoint forward (never back, also not when another scan of the scanner
    moved it further meanwhile: the condition is checked by the database)."""
    if uid > state.last_uid:
        state.last_uid = uid
        await FolderState.filter(id=state.id, last_uid__lt=uid).update(
            last_uid=uid, updated_at=timezone.now()
        )
