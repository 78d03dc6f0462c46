"""The batch fast path: a whole fetch batch processed set-based in ONE transaction.

The per-message path (process.py + actions/) asks the database 9-12 questions per
ticket-creating mail. Here the batch's lookups are loaded up front (batch_lookup.py), each
message's actions are decided in memory, in UID order, by the planner (planner.py: the
decide step a dry run shares) against those lookups plus what the earlier messages of the
batch planned, and the rows are then written in bulk (batch_write.py); ticket numbers for
the batch come from one reservation of the counter. The outcome is the one the
per-message path would have produced message by message: same contacts (one per new
sender), same ticket/comment threading, same log rows.

Anything the planner does not model (a broken rule's mail) runs through the per-message
actions on the same transaction, after the pending rows are written and before the
lookups are reloaded. If anything fails the caller rolls the batch back and redoes it one
message at a time, quarantining the bad message (pipeline.py).
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from .batch_prepare import FetchBatch
from .batch_write import write_pending
from .plan import PlannedMessage, assignees, plannable
from .planner import Planner
from .process import Prepared, Processed, act_prepared

__all__ = ["process_batch"]


async def process_batch(
    batch: FetchBatch,
    *,
    conn: BaseDBAsyncClient,
    prepared: list[Processed | Prepared] | None = None,
) -> list[Processed]:
    """Process `batch` on `conn` (the batch transaction); raises when any message fails.

    `prepared` is batch_prepare.prepare_batch's result for `batch`, when it ran ahead.
    Every result's log row comes back unsaved, for the caller's bulk insert."""
    config, folder, fetched = batch.config, batch.folder, batch.fetched
    if prepared is None:
        prepared = [batch.prepare(m) for m in fetched]
    users = assignees(batch.rules)
    planner = Planner(config, folder, conn, history=batch.history)
    results: list[Processed | PlannedMessage] = []
    stale = True
    for i, (message, item) in enumerate(zip(fetched, prepared, strict=True)):
        if isinstance(item, Processed):
            results.append(item)
            continue
        if not plannable(item):
            await write_pending(planner.pending, conn, config.attachments)
            history = batch.history.of(message.uid) if batch.history else None
            results.append(await act_prepared(config, item, folder, conn, history=history))
            stale = True  # it may have written rows the lookups do not know
            continue
        if stale:
            rest = [p for p in prepared[i:] if isinstance(p, Prepared)]
            await planner.load(rest, users)
            stale = False
        msg = PlannedMessage(message.uid, item)
        await planner.plan(msg)
        results.append(msg)
    await write_pending(planner.pending, conn, config.attachments)
    return [r.processed() if isinstance(r, PlannedMessage) else r for r in results]
