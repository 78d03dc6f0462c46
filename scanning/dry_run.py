"""Dry run: what would the scanner do to the mail that is in the mailbox now?

Flow (one folder, read-only from start to end):
  1. EXAMINE the folder (read-only: no flag, not even \\Recent, changes); read its checkpoint
     without creating or resetting it (checkpoints.peek_checkpoint) and ask which UIDs the
     next scan would read (checkpoints.pick, the scan's own choice, minus logged ones);
  2. take the newest `limit` messages of the folder, or the first `limit` the next scan
     would read (`pick`), within a reading budget (MAX_READ_BYTES, sizes from FETCH first);
  3. FETCH BODY.PEEK[] in chunks, in the session thread (transport/imap.py), as a scan does;
  4. in the parse processes, as a scan does: parse, classify, match (batch_prepare), and
     explain every rule's condition on every message (dry_run_look.py);
  5. decide with the scan's own planner (planner.py) in UID order against the database as it
     is, peeking at the ticket counter instead of reserving it; what it plans is never
     written, and nothing is published, flagged, moved, deleted or checkpointed.
The decisions are the next scan's, message by message, as long as nothing else changes the
mailbox or the database in between (a ticket created meanwhile takes the predicted number).

Failures: a missing folder raises `DryRunError` (field "folder"), a connection problem the
usual `MailError`; the caller bounds the time (resolvers: SERVER_TIMEOUT). At most
`AT_ONCE` dry runs work at a time per process; more wait their turn.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from tortoise import Tortoise

from ..models import MessageOutcome, Scanner
from ..settings import Settings
from ..transport.errors import ErrorCode, MailError
from ..transport.imap import FetchedMessage, FolderStatus, MailboxSession, MessageMeta
from . import checkpoints
from .batch_prepare import FetchBatch
from .connect import open_session
from .context import HistoryImport, ScanCache
from .dry_run_describe import describe_planned, describe_unplanned, not_read
from .dry_run_look import Look, look_chunk
from .dry_run_report import DryRunReport, MessagePreview, RuleCheck
from .duplicates import has_other_folders
from .parse_pool import run_in_pool
from .pipeline import prepare_fetched, scan_config
from .plan import PlannedMessage, assignees, plannable
from .planner import Planner
from .process import LoadedRule, Prepared, Processed, load_rules

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_READ_BYTES",
    "DryRunError",
    "DryRunOptions",
    "dry_run",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500  # messages per dry run
MAX_READ_BYTES = 64 << 20  # raw message bytes a dry run reads at most
FETCH_CHUNK = 50  # messages per FETCH command
LOOK_CHUNK = 100  # messages per parse-process call of the explanations
AT_ONCE = 2  # dry runs working at a time in one process

Pick = Literal["newest", "next_scan"]
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


class DryRunError(ValueError):
    """A dry run was asked for something that does not exist or is out of bounds;
    `field` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class DryRunOptions:
    """What to look at: `folder` (default: the first folder the rules read), `limit`
    messages (1..MAX_LIMIT), the `newest` of the folder or the ones the `next_scan` reads;
    `rule_ids` tries these rules of the scanner (active or not) instead of its active ones;
    `draft` is a condition (stored JSON form) explained on every message besides."""

    folder: str | None = None
    limit: int = DEFAULT_LIMIT
    pick: Pick = "newest"
    rule_ids: tuple[int, ...] | None = None
    draft: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Chosen:
    status: FolderStatus
    meta: list[MessageMeta]  # to read, in UID order
    over_budget: list[MessageMeta]
    upcoming: set[int]  # what the next scan reads (unlogged)
    next_scan: int
    logged: set[int]
    history: HistoryImport | None  # the folder's mail from before scanning began


async def _rules(scanner: Scanner, ids: tuple[int, ...] | None) -> list[LoadedRule]:
    rules = await load_rules(scanner, ids)
    if ids is not None:
        missing = set(ids) - {r.model.id for r in rules}
        if missing:
            shown = ", ".join(str(i) for i in sorted(missing))
            raise DryRunError("ruleIds", f"scanner {scanner.name!r} has no rule {shown}")
    return rules


def _budget(meta: list[MessageMeta], newest: bool) -> tuple[list[MessageMeta], list[MessageMeta]]:
    """The messages within MAX_READ_BYTES: the newest ones (`newest`) or the first ones,
    always a run of consecutive UIDs (planning depends on the earlier messages)."""
    order = list(reversed(meta)) if newest else meta
    kept, total = 0, 0
    for m in order:
        if total + m.size > MAX_READ_BYTES and kept:
            break
        total += m.size
        kept += 1
    taken, left = order[:kept], order[kept:]
    if newest:
        taken.reverse()
        left.reverse()
    return taken, left


async def _choose(
    session: MailboxSession, scanner: Scanner, folder: str, options: DryRunOptions
) -> _Chosen:
    try:
        status = await session.examine(folder)
    except MailError as exc:
        if exc.code == ErrorCode.FOLDER_NOT_FOUND:
            raise DryRunError("folder", exc.message) from exc
        raise
    state, _ = await checkpoints.peek_checkpoint(
        scanner, folder, status.uidvalidity, status.uidnext
    )
    picked = await checkpoints.pick(session, scanner, state)
    upcoming = await checkpoints.unlogged(scanner.id, folder, status.uidvalidity, picked)
    if options.pick == "next_scan":
        uids, logged = upcoming[: options.limit], set()
    else:
        uids = (await session.search(["ALL"]))[-options.limit :]
        logged = await checkpoints.already_logged(scanner.id, folder, status.uidvalidity, uids)
    meta = await session.fetch_meta(uids)
    taken, left = _budget(meta, newest=options.pick == "newest")
    imported = scanner.import_history_as
    history = HistoryImport(imported, state.start_uid) if imported and state.start_uid else None
    return _Chosen(status, taken, left, set(upcoming), len(upcoming), logged, history)


async def _fetch(session: MailboxSession, meta: list[MessageMeta]) -> list[FetchedMessage]:
    uids = [m.uid for m in meta]
    out: list[FetchedMessage] = []
    for i in range(0, len(uids), FETCH_CHUNK):
        out.extend(await session.fetch(uids[i : i + FETCH_CHUNK]))
    return out


def _prepare_here(batch: FetchBatch, message: FetchedMessage) -> Processed | Prepared | str:
    """After a failed prepare_batch: each message alone, a failing one by its reason
    (the scan quarantines it the same way, after redoing its batch one by one)."""
    try:
        return batch.prepare(message)
    except Exception as exc:  # noqa: BLE001 — reported as the quarantine it would be
        return f"{type(exc).__name__}: {exc}"


async def _looks(
    settings: Settings,
    folder: str,
    rules: list[LoadedRule],
    draft: dict[str, Any] | None,
    fetched: Sequence[FetchedMessage],
) -> list[Look]:
    conditions = [r.model.condition if r.compiled is not None else None for r in rules]
    chunks = [
        [m.raw for m in fetched[i : i + LOOK_CHUNK]] for i in range(0, len(fetched), LOOK_CHUNK)
    ]
    answers = await asyncio.gather(
        *(
            run_in_pool(settings.parse_processes, look_chunk, folder, conditions, draft, raws)
            for raws in chunks
        )
    )
    return [look for answer in answers for look in answer]


def _checks(rules: list[LoadedRule], look: Look) -> list[RuleCheck]:
    return [
        RuleCheck(
            rule.model.id,
            rule.model.name,
            bool(explained and explained["result"]) or rule.compiled is None,
            explained,
            rule.error or (look.error if explained is None else None),
        )
        for rule, explained in zip(rules, look.explanations, strict=True)
    ]


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(AT_ONCE)
    return _slots[loop]


async def dry_run(scanner: Scanner, options: DryRunOptions, settings: Settings) -> DryRunReport:
    """Run `options` on the live mailbox of `scanner`; changes nothing anywhere."""
    if not 1 <= options.limit <= MAX_LIMIT:
        raise DryRunError("limit", f"must be between 1 and {MAX_LIMIT}")
    rules = await _rules(scanner, options.rule_ids)
    folder = options.folder or next((f for r in rules for f in r.folders), "INBOX")
    rules = [r for r in rules if folder in r.folders]
    active = rules if options.rule_ids is None else await load_rules(scanner)
    scanned = any(folder in r.folders for r in active)
    async with _slot():
        async with await open_session(scanner) as session:
            chosen = await _choose(session, scanner, folder, options)
            if not scanned:  # the scan never opens a folder no active rule reads
                chosen = replace(chosen, upcoming=set(), next_scan=0)
            fetched = await _fetch(session, chosen.meta)
            moves = {e["folder"] for e in _planned_moves(rules)}
            live = {f.name for f in await session.list_folders()} if moves else set()
        report = await _decide(scanner, options, settings, folder, rules, chosen, fetched, live)
    if not scanned:
        report.notes.append(f"No active rule reads {folder}: scans do not read this folder.")
    return report


def _planned_moves(rules: list[LoadedRule]) -> list[dict[str, str]]:
    return [a for r in rules for a in r.actions if a["type"] == "move_to_folder"]


async def _decide(
    scanner: Scanner,
    options: DryRunOptions,
    settings: Settings,
    folder: str,
    rules: list[LoadedRule],
    chosen: _Chosen,
    fetched: list[FetchedMessage],
    live_folders: set[str],
) -> DryRunReport:
    """Steps 4-5: prepare and explain in the parse processes, then plan without writing."""
    uidvalidity = chosen.status.uidvalidity
    config = replace(await scan_config(scanner, settings), cache=ScanCache())
    reread: set[str] = set()
    if await checkpoints.has_older_generation(scanner.id, folder, uidvalidity):
        reread = await checkpoints.reread_ids(
            scanner.id, folder, uidvalidity, (m.raw for m in fetched)
        )
    made: list[FetchBatch] = []

    def batch(elsewhere: Mapping[str, str]) -> FetchBatch:
        made.append(
            FetchBatch(
                config, rules, folder, uidvalidity, fetched, None, reread,
                history=chosen.history, elsewhere=elsewhere,
            )
        )
        return made[-1]

    # As the scan prepares a batch: also what was processed in another folder (duplicates)
    other_folders = await has_other_folders(scanner.id, folder)
    (prepared_ahead, _), looks = await asyncio.gather(
        prepare_fetched(batch, scanner.id, folder, other_folders),
        _looks(settings, folder, rules, options.draft, fetched),
    )
    prepared: list[Processed | Prepared | str] = (
        list(prepared_ahead) if prepared_ahead is not None
        else [_prepare_here(made[-1], m) for m in fetched]
    )
    conn = Tortoise.get_connection("default")
    planner = Planner(config, folder, conn, dry=True, history=chosen.history)
    await planner.load(
        [p for p in prepared if isinstance(p, Prepared) and plannable(p)], assignees(rules)
    )
    meta = {m.uid: m for m in chosen.meta}
    previews: list[MessagePreview] = []
    for message, item, look in zip(fetched, prepared, looks, strict=True):
        preview = MessagePreview(
            uid=message.uid,
            subject=look.subject,
            sender=look.sender,
            date=look.date,
            arrived=meta[message.uid].arrived if message.uid in meta else None,
            size=len(message.raw),
            kind=look.kind,
            would_scan=message.uid in chosen.upcoming,
            already_processed=message.uid in chosen.logged,
            outcome=MessageOutcome.PROCESSED.value,
            rules=_checks(rules, look),
        )
        if options.draft is not None and look.draft is not None:
            preview.draft = RuleCheck(None, "draft", bool(look.draft["result"]), look.draft)
        if isinstance(item, Prepared) and plannable(item):
            msg = PlannedMessage(message.uid, item)
            await planner.plan(msg)
            describe_planned(preview, msg, folder, live_folders)
        else:
            describe_unplanned(preview, item)
        previews.append(preview)
    previews.extend(not_read(m, chosen) for m in chosen.over_budget)
    previews.sort(key=lambda p: p.uid)
    notes = []
    if chosen.over_budget:
        notes.append(
            f"{len(chosen.over_budget)} message(s) not read: the dry run reads at most "
            f"{MAX_READ_BYTES >> 20} MB"
        )
    return DryRunReport(
        scanner.id, folder, uidvalidity, chosen.status.exists, chosen.next_scan, previews, notes
    )
