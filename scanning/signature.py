"""The cheap check: "has this folder changed since the last scan?" in one STATUS.

Used by the scan (which records signatures), by the safety-net scan of the interval
(`workers/scan.py`) and by watchers polling a server without IDLE (`watch/`).

A scan records each folder's STATUS signature, taken before it searched the folder, once
the folder was scanned without error (`FolderState.status_signature`). A poll (a watcher on a
server without IDLE, or the interval's safety-net scan) asks STATUS again and compares: equal
means nothing arrived and no flag that matters changed, so the poll costs one round trip and
no scan. Anything that happened after the recorded STATUS differs, so nothing is missed;
the price is one scan that finds nothing after a scan that changed flags (its own \\Seen).

What is compared depends on the scan type: "all since last scan" reads new UIDs only, so
UIDVALIDITY and UIDNEXT; "only unread" also cares about mail marked unread again, so UNSEEN
too, and HIGHESTMODSEQ where the server offers CONDSTORE (it moves on every flag change, so
a read and an unread swapped between two polls are noticed as well).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from ..models import FolderState, Scanner, ScanType

logger = logging.getLogger(__name__)

BASE_ITEMS = ("UIDVALIDITY", "UIDNEXT", "MESSAGES", "UNSEEN")


def status_items(capabilities: Iterable[str]) -> list[str]:
    """STATUS items to ask for; HIGHESTMODSEQ only where CONDSTORE is offered."""
    caps = {c.upper() for c in capabilities}
    return [*BASE_ITEMS, "HIGHESTMODSEQ"] if "CONDSTORE" in caps else list(BASE_ITEMS)


def signature(status: Mapping[str, int], scan_type: ScanType) -> str:
    """The part of a STATUS answer that means "there may be something to scan"."""
    keys = ["UIDVALIDITY", "UIDNEXT"]
    if scan_type == ScanType.UNREAD:
        keys += ["UNSEEN", "HIGHESTMODSEQ"]
    return ";".join(f"{k.lower()}={status[k]}" for k in keys if k in status)


async def stored_signatures(scanner_id: int) -> dict[str, str | None]:
    """folder -> signature recorded by the last successful scan of that folder."""
    rows = await FolderState.filter(scanner_id=scanner_id).values("folder", "status_signature")
    return {str(r["folder"]): r["status_signature"] for r in rows}


async def record_signature(scanner_id: int, folder: str, value: str) -> None:
    await FolderState.filter(scanner_id=scanner_id, folder=folder).update(status_signature=value)


async def rule_folders(scanner_id: int) -> list[str]:
    """The folders the scanner's active rules read, in rule order, each once."""
    from ..models import Rule

    rows = await Rule.filter(scanner_id=scanner_id, active=True).order_by("sequence", "id")
    return list(dict.fromkeys(f for rule in rows for f in rule.folders or []))


async def unchanged_since_last_scan(scanner: Scanner) -> bool:
    """True when every folder the active rules read still has the signature its last scan
    recorded: one login and one STATUS per folder, no SELECT, no SEARCH, no database writes.

    False when any folder differs or has no signature yet, and when the check itself fails
    (the scan that follows then reports the trouble in the scanner's health). It logs in
    with the asyncio client (no session thread, no imapclient parsing): a check must cost
    less than the scan it saves."""
    from ..transport.errors import MailError
    from ..transport.imap_idle import IdleClient
    from .connect import imap_settings

    folders = await rule_folders(scanner.id)
    stored = await stored_signatures(scanner.id)
    if not folders or any(stored.get(f) is None for f in folders):
        return False
    try:
        client = await IdleClient.connect(await imap_settings(scanner))
    except MailError as exc:
        logger.info("cheap check of scanner %s failed, scanning instead: %s", scanner.id, exc)
        return False
    try:
        items = status_items(client.capabilities)
        for folder in folders:
            now = signature(await client.status(folder, items), scanner.scan_type)
            if now != stored[folder]:
                return False
    except Exception as exc:  # noqa: BLE001 — any doubt means: scan
        logger.info("cheap check of scanner %s failed, scanning instead: %s", scanner.id, exc)
        return False
    finally:
        await client.logout()
    return True
