"""Preparing a fetched batch ahead: parse, classify and match every message, and decode
what its actions will read, while the previous batch's transaction waits on the database.

Everything here is CPU work on the event loop thread (the GIL rules out a second thread);
it yields between messages so the other batch's round trips are answered promptly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..mail.imap import FetchedMessage
from .batch_lookup import reference_ids
from .context import ScanConfig
from .process import LoadedRule, Prepared, Processed, prepare_message
from .ticket_matching import number_pattern

__all__ = ["FetchBatch", "prepare_batch"]


def _warm(item: Prepared, numbers: re.Pattern[str]) -> None:
    """Decode now what the planner will read for a ticket mail (bodies, attachment digests;
    all cached on the ParsedEmail), so that this CPU work can overlap the previous batch's
    database round trips. A decoding error is left for the planner to meet again."""
    p = item
    if p.automated or not any(
        a["type"] == "create_or_update_ticket" for r in p.matched for a in r.actions
    ):
        return
    email = p.email
    try:
        _ = email.text_body
        for att in email.attachments:
            _ = att.sha256
        if reference_ids(email) or numbers.search(email.subject):
            _ = email.html_body  # extract_reply reads it for a comment
    except Exception:  # noqa: BLE001 — raised again, and handled, when planned
        return


@dataclass(frozen=True)
class FetchBatch:
    """One fetch batch of a folder, with what its messages are prepared and processed with
    (the same for `prepare_batch` ahead and `batch.process_batch` in the transaction)."""

    config: ScanConfig
    rules: list[LoadedRule]
    folder: str
    uidvalidity: int
    fetched: Sequence[FetchedMessage]
    run_id: int | None
    reread_ids: set[str]

    def prepare(self, message: FetchedMessage) -> Processed | Prepared:
        """`prepare_message` for one of the batch's messages (raises on a rule bug)."""
        return prepare_message(
            self.config,
            self.rules,
            self.folder,
            self.uidvalidity,
            message.uid,
            message.raw,
            run_id=self.run_id,
            reread_ids=self.reread_ids,
        )


async def prepare_batch(batch: FetchBatch) -> list[Processed | Prepared] | None:
    """`prepare_message` for every message, yielding to the event loop between messages so
    the previous batch's transaction makes progress meanwhile. None when a message failed
    (the batch transaction prepares again and fails over to one message at a time)."""
    out: list[Processed | Prepared] = []
    numbers = number_pattern(batch.config.ticket_prefix)
    for m in batch.fetched:
        try:
            item = batch.prepare(m)
        except Exception:  # noqa: BLE001 — see above
            return None
        if isinstance(item, Prepared):
            _warm(item, numbers)
        out.append(item)
        await asyncio.sleep(0)
    return out
