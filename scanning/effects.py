"""IMAP side effects, applied only after the database commit, then marked done.

Every effect is idempotent on the server (+FLAGS, UID MOVE/EXPUNGE of a UID that is gone
are no-ops), so after a crash the next scan simply applies pending effects again.
Effects are grouped per batch: one STORE for all \\Seen flags, one MOVE per target folder,
one UID EXPUNGE for all deletions.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..models import MessageLog, SideEffects
from ..transport.imap import SEEN, MailboxSession
from .checkpoints import uid_set
from .context import Effect

__all__ = ["PendingEffects", "apply_effects", "finish_pending"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingEffects:
    uid: int
    effects: list[Effect]


async def apply_effects(
    session: MailboxSession,
    scanner_id: int,
    folder: str,
    uidvalidity: int,
    items: list[PendingEffects],
) -> Counter[str]:
    """Apply the effects of messages in the selected `folder`, then mark their log rows done.

    Returns the moved/deleted counts.
    """
    counts: Counter[str] = Counter()
    seen = [i.uid for i in items if any(e["op"] == "seen" for e in i.effects)]
    moves: dict[str, list[int]] = defaultdict(list)
    deletes: list[int] = []
    for item in items:
        # The first move or delete takes the message out of the folder; later ones are moot.
        final = next((e for e in item.effects if e["op"] in {"move", "delete"}), None)
        if final is None:
            continue
        if final["op"] == "move" and final.get("folder") != folder:
            moves[final["folder"]].append(item.uid)
        elif final["op"] == "delete":
            deletes.append(item.uid)
    await session.add_flags(seen, [SEEN])
    for target, uids in moves.items():
        await session.move(uids, target)
        counts["moved"] += len(uids)
    await session.delete(deletes)
    counts["deleted"] += len(deletes)
    uids = [i.uid for i in items]
    if uids:
        await MessageLog.filter(
            scanner_id=scanner_id, folder=folder, uidvalidity=uidvalidity, **uid_set(uids)
        ).update(side_effects=SideEffects.DONE)
    return counts


async def finish_pending(
    session: MailboxSession, scanner_id: int, folder: str, uidvalidity: int
) -> Counter[str]:
    """Apply effects a crashed or failed scan left pending in this (selected) folder."""
    rows = await MessageLog.filter(
        scanner_id=scanner_id, folder=folder, side_effects=SideEffects.PENDING
    ).order_by("uid")
    if not rows:
        return Counter()
    stale = [r.id for r in rows if r.uidvalidity != uidvalidity]
    if stale:  # the folder was re-created: those UIDs now name other messages (or none)
        logger.warning(
            "dropping %d pending side effect(s) in %s: UIDVALIDITY changed", len(stale), folder
        )
        await MessageLog.filter(id__in=stale).update(side_effects=SideEffects.DONE)
    items = [
        PendingEffects(int(r.uid), list(r.pending_effects or []))
        for r in rows
        if r.uidvalidity == uidvalidity
    ]
    logger.info("finishing %d pending side effect(s) in %s", len(items), folder)
    return await apply_effects(session, scanner_id, folder, uidvalidity, items)
