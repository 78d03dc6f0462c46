"""Per-folder checkpoints and the choice of which UIDs a scan reads.

`FolderState.last_uid` means "every message up to here has a log row and its IMAP side
effects are done" under `uidvalidity`. When the server's UIDVALIDITY changes, the UIDs
mean nothing any more: the checkpoint restarts at 0 and messages already processed under
an older UIDVALIDITY are recognised by Message-ID (see `reread_message_ids`).

Where scanning starts (`Scanner.start_from`, fixed once it began): ALL lets the scan type
alone decide; NOW records each folder's UIDNEXT as `FolderState.start_uid` when the scanner
is activated (scanning/start.py) or, failing that, at the folder's first read, and never
reads below it; DATE adds SEARCH SINCE the start date (INTERNALDATE, day granularity) to
every search. `pick` is the one answer to "which UIDs does the next scan read", shared by
the scan, its dry run and its preview.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from ..mail.parsing import parse_email
from ..models import FolderState, MessageLog, Scanner, ScanType, StartFrom
from ..transport.imap import MailboxSession

__all__ = [
    "advance",
    "already_logged",
    "load_checkpoint",
    "lowest_uid",
    "peek_checkpoint",
    "pick",
    "reread_ids",
    "reread_message_ids",
    "search_criteria",
    "start_values",
    "unlogged",
]


async def load_checkpoint(
    scanner: Scanner, folder: str, uidvalidity: int, uidnext: int = 0
) -> tuple[FolderState, bool]:
    """The folder's state, reset when UIDVALIDITY changed; (state, is_first_read).

    A state made here (no activation recorded one) starts the folder at `uidnext`, the
    SELECT's UIDNEXT: the mail there now is what was there before scanning began."""
    state = await FolderState.filter(scanner_id=scanner.id, folder=folder).first()
    if state is None:
        try:
            state = FolderState(scanner_id=scanner.id, folder=folder, uidvalidity=uidvalidity)
            state.update_from_dict(start_values(scanner, uidnext))
            await state.save()
            return state, True
        except IntegrityError:
            # Another scan of this scanner (a worker taking it over) created it just now.
            state = await FolderState.get(scanner_id=scanner.id, folder=folder)
    if state.uidvalidity != uidvalidity:
        # The folder was re-created: with start from NOW, what it holds now is left alone
        # too; otherwise its mail is read again (deduplicated by Message-ID).
        state.uidvalidity = uidvalidity
        state.last_uid = 0
        state.start_uid = 0
        if scanner.start_from == StartFrom.NOW:
            state.start_uid, state.last_uid = uidnext, max(0, uidnext - 1)
        await state.save(update_fields=["uidvalidity", "last_uid", "start_uid", "updated_at"])
        return state, True
    return state, False


def start_values(scanner: Scanner, uidnext: int) -> dict[str, int]:
    """A new folder state's start: `start_uid` (the folder's UIDNEXT when scanning began)
    and, with start from NOW, the checkpoint just below it."""
    if scanner.start_from == StartFrom.NOW:
        return {"start_uid": uidnext, "last_uid": max(0, uidnext - 1)}
    return {"start_uid": uidnext, "last_uid": 0}


def lowest_uid(scanner: Scanner, state: FolderState, start: StartFrom | None = None) -> int:
    """The lowest UID the scan may read in the folder: above the checkpoint (scan type all
    since last scan), and not below where scanning began (start from NOW). `start`
    overrides the scanner's start (a preview asks what the scan type alone would read)."""
    low = state.last_uid + 1 if scanner.scan_type == ScanType.ALL_SINCE_LAST_SCAN else 1
    if (start or scanner.start_from) == StartFrom.NOW:
        low = max(low, state.start_uid)
    return int(low)


def search_criteria(
    scanner: Scanner, state: FolderState, start: StartFrom | None = None
) -> list[Any]:
    """UID SEARCH criteria for the scan type and start: UNSEEN, or UIDs from `lowest_uid`;
    with start from DATE always limited to mail received SINCE the start date."""
    since: list[Any] = []
    if (start or scanner.start_from) == StartFrom.DATE and scanner.start_date is not None:
        since = ["SINCE", scanner.start_date]
    if scanner.scan_type == ScanType.UNREAD:
        return ["UNSEEN", *since]
    low = lowest_uid(scanner, state, start)
    if low <= 1:
        return since or ["ALL"]
    return ["UID", f"{low}:*", *since]


async def peek_checkpoint(
    scanner: Scanner, folder: str, uidvalidity: int, uidnext: int = 0
) -> tuple[FolderState, bool]:
    """`load_checkpoint` without writing: an unsaved state where it would create or reset
    one (for dry runs and previews, which must change nothing)."""
    state = await FolderState.filter(scanner_id=scanner.id, folder=folder).first()
    if state is not None and state.uidvalidity == uidvalidity:
        return state, False
    values = start_values(scanner, uidnext)
    if state is not None and scanner.start_from != StartFrom.NOW:
        values["start_uid"] = 0
    fresh = FolderState(scanner_id=scanner.id, folder=folder, uidvalidity=uidvalidity)
    return fresh.update_from_dict(values), True


async def pick(
    session: MailboxSession, scanner: Scanner, state: FolderState, start: StartFrom | None = None
) -> list[int]:
    """The UIDs a scan reads next in the selected folder, in order (before dropping the
    ones already logged): the scan type's search, from `lowest_uid` on ("UID n:*" also
    answers the highest UID below n when nothing is above it)."""
    uids = await session.search(search_criteria(scanner, state, start))
    low = lowest_uid(scanner, state, start)
    return [u for u in uids if u >= low]


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
