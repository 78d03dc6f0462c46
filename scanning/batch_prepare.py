"""Preparing a fetched batch ahead: parse, classify and match every message, and decode
what its actions will read, while the previous batch's transaction waits on the database.

This is CPU work. With parse processes (ScanConfig.parse_processes, the default where
there is more than one core) it runs in worker processes (parse_pool.py) and the results
come back pickled: the event loop meanwhile commits the previous batch. With a message
budget (budget.py, the default) it runs there too, in one process at least, because only
there can a message that overruns be stopped; such a message comes back quarantined
(TIMEOUT) and is remembered in `FetchBatch.timed_out`, so that no later step of the scan
parses it again in the scan process. Without either, it runs on the event loop thread,
yielding between messages so the other batch's round trips are answered promptly.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..mail.parsing import ParsedEmail
from ..transport.imap import FetchedMessage
from .actions.create_or_update_ticket import comment_text
from .batch_lookup import reference_ids
from .budget import MessageTimeout, cpu_budget, crash_reason, deadline_for, timed_out
from .context import HistoryImport, ScanConfig
from .duplicates import as_duplicate, dedupe_key, skip_counts
from .parse_pool import WorkerDied, WorkTimedOut, run_in_pool
from .process import (
    LoadedRule,
    Prepared,
    Processed,
    Unlogged,
    examine_message,
)
from .ticket_matching import number_pattern

__all__ = ["FetchBatch", "mark_duplicates", "message_keys", "prepare_batch"]

logger = logging.getLogger(__name__)

MIN_CHUNK = 25  # messages per worker call: fewer cost more in pickling than they save
DECODED_ATTACHMENTS = 4 << 20  # per message: decoded ahead up to this total, else later


def _warm(item: Prepared, numbers: re.Pattern[str]) -> None:
    """Decode now what the planner will read for a ticket mail (the text body, attachments
    decoded and hashed, the reply text of a possible reply), so that this CPU work happens
    here and not inside the batch transaction. A decoding error is left for the planner to
    meet again."""
    p = item
    if p.automated or not any(
        a["type"] == "create_or_update_ticket" for r in p.matched for a in r.actions
    ):
        return
    email = p.email
    try:
        _ = email.text_body
        email.keep_attachments_decoded(DECODED_ATTACHMENTS)
        if reference_ids(email) or numbers.search(email.subject):
            p.comment = comment_text(email)
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
    history: HistoryImport | None = None  # the folder's mail from before scanning began
    # Dedupe keys of messages processed in other folders -> that folder (duplicates.py).
    elsewhere: Mapping[str, str] = field(default_factory=dict)
    # uid -> quarantine row of a message past its budget, filled in by this process and
    # shared by every FetchBatch of a folder scan: such a message is never parsed again.
    timed_out: dict[int, Unlogged] = field(default_factory=dict)

    def examine(self, message: FetchedMessage) -> Unlogged | Prepared:
        """`examine_message` for one of the batch's messages (raises on a rule bug)."""
        return examine_message(
            self.config,
            self.rules,
            self.folder,
            self.uidvalidity,
            message.uid,
            message.raw,
            run_id=self.run_id,
            reread_ids=self.reread_ids,
            server_id=message.server_id,
            elsewhere=self.elsewhere,
        )

    def prepare(self, message: FetchedMessage) -> Processed | Prepared:
        """`prepare_message` for one of the batch's messages (raises on a rule bug)."""
        late = self.timed_out.get(message.uid)
        if late is not None:
            return late.logged()
        item = self.examine(message)
        return item.logged() if isinstance(item, Unlogged) else item


@dataclass(frozen=True)
class _Shipped:
    """A `Prepared` message as a worker sends it back: its matched rules by position in
    `FetchBatch.rules` (the receiver holds those; unpickling them would recompile them)."""

    email: ParsedEmail
    fields: dict[str, Any]
    automated: str | None
    matched: list[int]
    counts: Counter[str]
    comment: tuple[str, str] | None


def _prepare_one(
    batch: FetchBatch, message: FetchedMessage, numbers: re.Pattern[str]
) -> Unlogged | Prepared:
    item = batch.examine(message)
    if isinstance(item, Prepared):
        _warm(item, numbers)
    return item


@dataclass(frozen=True)
class _TimedOut:
    """A message that went past its budget in the worker: its quarantine row."""

    item: Unlogged


_Result = Unlogged | _Shipped | _TimedOut | None  # None: the message raised


def _prepare_chunk(batch: FetchBatch) -> list[_Result]:
    """Runs in a worker process: every message of `batch`, each within its CPU budget."""
    numbers = number_pattern(batch.config.ticket_prefix)
    position = {id(rule): i for i, rule in enumerate(batch.rules)}
    out: list[_Result] = []
    for message in batch.fetched:
        try:
            with cpu_budget(batch.config.message_budget_s):
                item = _prepare_one(batch, message, numbers)
        except MessageTimeout:
            out.append(_TimedOut(_timed_out(batch, message)))
            continue
        except Exception:  # noqa: BLE001 — see prepare_batch
            out.append(None)
            continue
        if isinstance(item, Prepared):
            matched = [position[id(rule)] for rule in item.matched]
            p = item
            # Not sent back: the scan process holds the raw message (most of the bytes).
            object.__setattr__(p.email, "_raw", b"")
            out.append(_Shipped(p.email, p.fields, p.automated, matched, p.counts, p.comment))
        else:
            out.append(item)
    return out


def _timed_out(batch: FetchBatch, message: FetchedMessage, reason: str | None = None) -> Unlogged:
    return timed_out(batch.config, batch.folder, batch.uidvalidity, message.uid, message.raw,
                     batch.run_id, message.server_id, reason)


async def _run_chunk(chunk: FetchBatch, processes: int) -> list[_Result]:
    """A chunk in a parse process. A process that does not answer by the chunk's deadline
    (a message stuck in one C call, which the CPU timer cannot interrupt) or that dies is
    killed or replaced, and the chunk is redone one message per call: the message that
    times out (or kills its process) alone is the one quarantined. Only when no parse
    process can run at all is the chunk read here, as without a budget."""
    budget = chunk.config.message_budget_s
    if budget <= 0:
        return await run_in_pool(processes, _prepare_chunk, chunk)
    try:
        return await run_in_pool(processes, _prepare_chunk, chunk, fallback=False,
                                 timeout=deadline_for(len(chunk.fetched), budget))
    except WorkTimedOut as exc:
        logger.warning("a parse process timed out (%s); its %d message(s) are read again one "
                       "at a time", exc, len(chunk.fetched))
    except WorkerDied as exc:
        logger.warning("a parse process died (%s); its %d message(s) are read again one at a "
                       "time", exc, len(chunk.fetched))
    except Exception:  # noqa: BLE001 — cannot start processes or pickle: as without a budget
        return await run_in_pool(processes, _prepare_chunk, chunk)
    out: list[_Result] = []
    for message in chunk.fetched:
        one = replace(chunk, fetched=[message])
        try:
            out.extend(await run_in_pool(processes, _prepare_chunk, one, fallback=False,
                                         timeout=deadline_for(1, budget)))
        except WorkTimedOut:
            out.append(_TimedOut(_timed_out(chunk, message)))
        except WorkerDied as exc:
            out.append(_TimedOut(_timed_out(chunk, message, crash_reason(str(exc)))))
        except Exception:  # noqa: BLE001 — read again later, in this process
            out.append(None)
    return out


def _received(
    batch: FetchBatch, message: FetchedMessage, item: Unlogged | _Shipped | _TimedOut
) -> Processed | Prepared:
    if isinstance(item, _TimedOut):
        item = batch.timed_out[message.uid] = item.item
    if isinstance(item, Unlogged):
        return item.logged()
    object.__setattr__(item.email, "_raw", message.raw)
    matched = [batch.rules[i] for i in item.matched]
    return Prepared(item.email, item.fields, item.automated, matched, item.counts, item.comment)


async def _in_processes(batch: FetchBatch, processes: int) -> list[Processed | Prepared] | None:
    # What crosses to the workers: no cache (it holds model rows of this process).
    shipped = replace(batch, config=replace(batch.config, cache=None))
    fetched = list(batch.fetched)
    parts = max(1, min(processes, len(fetched) // MIN_CHUNK))
    size = -(-len(fetched) // parts)
    chunks = [replace(shipped, fetched=fetched[i : i + size]) for i in range(0, len(fetched), size)]
    results = await asyncio.gather(*(_run_chunk(c, processes) for c in chunks))
    out: list[Processed | Prepared] = []
    failed = False
    for chunk, result in zip(chunks, results, strict=True):
        for message, item in zip(chunk.fetched, result, strict=True):
            if item is None:
                failed = True  # the others are still received: timeouts must be known
            else:
                out.append(_received(batch, message, item))
    return None if failed else out


def message_keys(
    fetched: Sequence[FetchedMessage], prepared: Sequence[Processed | Prepared]
) -> dict[int, str]:
    """uid -> dedupe key of each prepared message (server id, else its Message-ID)."""
    keys: dict[int, str] = {}
    for message, item in zip(fetched, prepared, strict=True):
        key = dedupe_key(message.server_id, item.fields.get("message_id"))
        if key is not None:
            keys[message.uid] = key
    return keys


def mark_duplicates(
    prepared: list[Processed | Prepared], keys: Mapping[int, str], elsewhere: Mapping[str, str]
) -> list[Processed | Prepared]:
    """Turn prepared messages that were processed in another folder into their SKIPPED rows
    (what `examine_message` decides when it knows `elsewhere` up front)."""
    out: list[Processed | Prepared] = []
    for item in prepared:
        uid = int(item.fields["uid"])
        where = elsewhere.get(keys.get(uid, ""))
        if where is None:
            out.append(item)
        else:
            out.append(Unlogged(uid, as_duplicate(item.fields, where), skip_counts()).logged())
    return out


async def prepare_batch(batch: FetchBatch) -> list[Processed | Prepared] | None:
    """`prepare_message` for every message, plus the decoding its actions need. None when
    a message failed (the batch transaction prepares again and fails over to one message
    at a time, which quarantines the bad one)."""
    processes = batch.config.parse_processes
    if batch.config.message_budget_s > 0:
        processes = max(1, processes)  # only a process can be stopped mid-message
    if processes > 0 and batch.fetched:
        return await _in_processes(batch, processes)
    out: list[Processed | Prepared] = []
    numbers = number_pattern(batch.config.ticket_prefix)
    for message in batch.fetched:
        try:
            item = _prepare_one(batch, message, numbers)
        except Exception:  # noqa: BLE001 — see above
            return None
        out.append(item.logged() if isinstance(item, Unlogged) else item)
        await asyncio.sleep(0)
    return out
