"""The scan pipeline: one run of one scanner over the folders its active rules name.

Per folder:
  1. SELECT; finish side effects a crashed scan left pending (idempotent on the server);
  2. load the checkpoint, reset when UIDVALIDITY changed (then re-read, deduped by Message-ID);
  3. UID SEARCH by scan type: UNSEEN, or UIDs above the checkpoint; never below where scanning
     began (start from NOW), only mail received SINCE the start date (start from DATE);
  4. per batch: drop UIDs that already have a log row, FETCH BODY.PEEK[] in the session
     thread, then parse, classify, match and decode it in a parse process (batch_prepare.py,
     parse_pool.py); a message already processed in another folder (the same Gmail message
     under two labels, a copy) is only logged as such (duplicates.py); the next batches go
     through these steps while this one commits;
  5. the whole batch in ONE transaction, set-based (batch.py): lookups for the batch in a few
     queries, every message's actions decided in memory in UID order, rows written in bulk,
     log rows included; when anything in it fails the batch is rolled back and redone one
     message per transaction (process.py), a failing message quarantined (but one that
     failed for a transient reason, such as a deadlock with another worker that took the
     scanner over, is left unlogged for the next scan, the checkpoint held before it);
  6. IMAP side effects (\\Seen, move, delete) only after commit, then mark them done;
  7. advance the checkpoint.
Steps 6-7 of a batch run while the next batch is processed (4-5); they finish, in order,
before that next batch's own side effects start.
A crash anywhere leaves either no log row (the message is read again) or a row with
pending effects (finished first by the next scan): nothing is lost, nothing doubles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from .. import events
from ..db import analyze_if_never_analyzed
from ..mail.parsing import parse_email
from ..models import FolderState, MessageLog, Scanner, ScanRun, ScanRunStatus, SmtpSettings
from ..models.bulk import insert_rows
from ..ops import shutdown
from ..ops.logs import log_context
from ..ops.metrics import observe_stage
from ..settings import Settings, load_settings
from ..storage.attachments import policy_for
from ..transport.errors import ErrorCode, MailError
from ..transport.imap import FetchedMessage, MailboxSession
from ..workers.lock import LOCK_LOST
from . import checkpoints
from .batch import process_batch
from .batch_prepare import FetchBatch, mark_duplicates, message_keys, prepare_batch
from .connect import open_session
from .context import HistoryImport, ScanCache, ScanConfig
from .duplicates import dedupe_key, has_other_folders, processed_elsewhere
from .effects import PendingEffects, apply_effects, finish_pending
from .observe import record_messages, record_run, stage
from .process import LoadedRule, Prepared, Processed, Unlogged, load_rules, process_message
from .progress import Progress
from .signature import record_signature, signature, status_items
from .transient import LoggedElsewhere, is_transient
from .warnings import ScanWarning, missing_folder_warning

__all__ = ["BATCH_SIZE", "prepare_fetched", "run_scan", "scan_config"]

logger = logging.getLogger(__name__)
BATCH_SIZE = 200
# What a scan writes and then looks up batch after batch (see db.analyze_if_never_analyzed).
SCAN_TABLES = ["ms_message_log", "ms_ticket", "ms_contact", "ms_comment", "ms_attachment"]


async def _before_side_effects(folder: str, uids: Sequence[int]) -> None:
    """Test seam: a crash injected here happens after commit, before IMAP side effects."""


async def _before_checkpoint(folder: str, uids: Sequence[int]) -> None:
    """Test seam: a crash injected here happens after side effects, before the checkpoint."""


async def scan_config(scanner: Scanner, settings: Settings) -> ScanConfig:
    smtp = await SmtpSettings.first()
    return ScanConfig(
        scanner=scanner,
        ticket_prefix=settings.ticket_prefix,
        message_id_domain=settings.message_id_domain,
        sender_address=smtp.sender_address if smtp else "",
        cache=ScanCache(),
        parse_processes=settings.parse_processes,
        message_budget_s=settings.message_budget_seconds,
        attachments=policy_for(settings),
    )


def _folders(rules: list[LoadedRule]) -> list[str]:
    return list(dict.fromkeys(f for rule in rules for f in rule.folders))


async def _analyze(tables: list[str]) -> None:
    """Planner statistics for a first scan; an optimisation, so a failure only logs."""
    try:
        await analyze_if_never_analyzed(tables)
    except Exception:  # noqa: BLE001 — the scan itself does not depend on it
        logger.warning("could not ANALYZE %s", ", ".join(tables), exc_info=True)


async def _publish(results: list[Processed]) -> None:
    for result in results:
        for kind, ticket_id, extra in result.events:
            await events.publish_ticket_event(kind, ticket_id, **extra)


async def _write_logs(results: list[Processed], conn: BaseDBAsyncClient) -> None:
    """Write the log rows of `results` not saved yet: new ones in bulk."""
    new = [r.fields for r in results if r.log is None and not r.saved]
    await insert_rows(MessageLog, new, conn)
    for result in results:
        if result.log is not None and not result.saved:  # an earlier row, updated
            await result.log.save(using_db=conn)


async def _insert_rows(results: list[Processed]) -> None:
    """One transaction for the batch's simple rows; one by one if a row already exists."""
    if not results:
        return
    try:
        async with in_transaction() as conn:
            await _write_logs(results, conn)
    except IntegrityError:
        for row in (r.model() for r in results):
            try:
                await row.save()
            except IntegrityError:
                logger.info(
                    "uid %s in %s was logged meanwhile; keeping that row", row.uid, row.folder
                )


async def prepare_fetched(
    batch: Callable[[Mapping[str, str]], FetchBatch],
    scanner_id: int,
    folder: str,
    other_folders: bool,
) -> tuple[list[Processed | Prepared] | None, dict[str, str]]:
    """Prepare fetched messages (`batch(elsewhere)` makes their FetchBatch) and find which
    were processed in another folder already (duplicates.py): (prepared, elsewhere).
    Shared by the scan and its dry run. `other_folders`: has the scanner logged mail from
    another folder at all (if not, nothing is looked up)."""
    if not other_folders:
        return await prepare_batch(batch({})), {}
    fetched = batch({}).fetched
    # Server ids are known now, so the parse processes skip those duplicates themselves;
    # Message-IDs only once parsed: those duplicates are marked after preparing.
    server_keys = [k for m in fetched if (k := dedupe_key(m.server_id, None))]
    elsewhere = dict(await processed_elsewhere(scanner_id, folder, server_keys))
    prepared = await prepare_batch(batch(elsewhere))
    if prepared is not None:
        keys = message_keys(fetched, prepared)
        pending = [k for k in keys.values() if k not in elsewhere and k.startswith("mid:")]
        if pending:
            elsewhere.update(await processed_elsewhere(scanner_id, folder, pending))
            prepared = mark_duplicates(prepared, keys, elsewhere)
    else:  # rare (a message failed to prepare): parse here, as the slow path will too
        ids = [dedupe_key(None, parse_email(m.raw).message_id) for m in fetched
               if m.server_id is None]
        more = [k for k in ids if k is not None]
        elsewhere.update(await processed_elsewhere(scanner_id, folder, more))
    return prepared, elsewhere


@dataclass(frozen=True)
class _Fetched:
    """A fetched batch, prepared ahead (`prepared` is None when preparing failed)."""

    messages: list[FetchedMessage]
    reread: set[str]
    prepared: list[Processed | Prepared] | None
    elsewhere: Mapping[str, str]  # processed in another folder (duplicates.py)


class _FolderScan:
    def __init__(
        self,
        session: MailboxSession,
        config: ScanConfig,
        rules: list[LoadedRule],
        folder: str,
        progress: Progress,
    ) -> None:
        self.session, self.config, self.rules = session, config, rules
        self.folder, self.progress = folder, progress
        self.scanner_id = config.scanner.id
        self.left_uid: int | None = None  # lowest UID left unlogged for the next scan
        # Messages past their budget (budget.py), quarantined by the parse process: never
        # parsed again here, whichever path the batch takes.
        self.timed_out: dict[int, Unlogged] = {}
        self.history: HistoryImport | None = None  # set from the checkpoint in run()

    async def run(self) -> None:
        # Before SELECT (STATUS is not for the selected folder) and before SEARCH, so that
        # whatever arrives from here on differs from the signature recorded at the end.
        before = await self._status_signature()
        status = await self.session.select(self.folder)
        self.uidvalidity = status.uidvalidity
        done = await finish_pending(self.session, self.scanner_id, self.folder, status.uidvalidity)
        self.progress.add(done)
        state, _ = await checkpoints.load_checkpoint(
            self.config.scanner, self.folder, status.uidvalidity, status.uidnext
        )
        uids = await checkpoints.pick(self.session, self.config.scanner, state)
        imported = self.config.scanner.import_history_as
        if imported is not None and state.start_uid:
            self.history = HistoryImport(imported, state.start_uid)
        self.reread = await checkpoints.has_older_generation(
            self.scanner_id, self.folder, status.uidvalidity
        )
        # Only a scanner with mail logged from another folder can meet a message again.
        self.other_folders = await has_other_folders(self.scanner_id, self.folder)
        self.progress.add_total(len(uids))
        batches = [uids[i : i + BATCH_SIZE] for i in range(0, len(uids), BATCH_SIZE)]
        # Batches fetched and prepared ahead: with parse processes, enough to keep the
        # IMAP thread, the parse processes and the database transaction busy at once.
        lookahead = 1 + max(0, self.config.parse_processes)
        ahead: deque[asyncio.Future[_Fetched]] = deque(
            asyncio.ensure_future(self._fetch(b)) for b in batches[:lookahead]
        )
        finishing: asyncio.Future[None] | None = None
        try:
            for i, batch in enumerate(batches):
                # A stop request ends the scan here, between batches: the previous batch's
                # side effects and checkpoint still complete below (ops/shutdown.py).
                shutdown.check()
                fetched = await ahead.popleft()
                if i + lookahead < len(batches):
                    ahead.append(asyncio.ensure_future(self._fetch(batches[i + lookahead])))
                results = await self._commit_batch(batch, fetched)
                # The previous batch's IMAP side effects ran while this one was processed;
                # they (and its checkpoint) complete before this batch's effects start.
                if finishing is not None:
                    await finishing
                finishing = asyncio.ensure_future(self._finish_batch(batch, results, state))
                await _analyze(SCAN_TABLES)
        except BaseException:
            for task in ahead:
                task.cancel()
            # Side effects already under way run to their end (they are idempotent).
            running: list[asyncio.Future[Any]] = [*ahead]
            if finishing is not None:
                running.append(finishing)
            await asyncio.gather(*running, return_exceptions=True)
            raise
        if finishing is not None:
            await finishing
        if before is not None and self.left_uid is None:
            await record_signature(self.scanner_id, self.folder, before)

    async def _status_signature(self) -> str | None:
        """The folder's cheap-check signature now; None if the server would not say."""
        try:
            items = status_items(await self.session.capabilities())
            answer = await self.session.status(self.folder, items)
        except MailError as exc:
            logger.info("no STATUS for %s: %s", self.folder, exc)
            return None
        return signature(answer, self.config.scanner.scan_type)

    async def _fetch(self, batch: list[int]) -> _Fetched:
        """Fetch a batch and prepare its messages (parse, match, decode what the actions will
        read) while the previous batch's transaction waits on the database."""
        logged = await checkpoints.already_logged(
            self.scanner_id, self.folder, self.uidvalidity, batch
        )
        wanted = [u for u in batch if u not in logged]
        with stage("fetch", len(wanted)):
            fetched = await self.session.fetch(wanted)
        reread = await self._reread_ids(fetched)
        started = time.perf_counter()
        prepared, elsewhere = await prepare_fetched(
            lambda seen: self._batch(fetched, reread, seen),
            self.scanner_id,
            self.folder,
            self.other_folders,
        )
        observe_stage("parse", time.perf_counter() - started, len(fetched))
        return _Fetched(fetched, reread, prepared, elsewhere)

    def _batch(
        self,
        fetched: list[FetchedMessage],
        reread: set[str],
        elsewhere: Mapping[str, str],
    ) -> FetchBatch:
        return FetchBatch(
            self.config,
            self.rules,
            self.folder,
            self.uidvalidity,
            fetched,
            run_id=self.progress.run.id,
            reread_ids=reread,
            history=self.history,
            elsewhere=elsewhere,
            timed_out=self.timed_out,
        )

    async def _reread_ids(self, fetched: list[FetchedMessage]) -> set[str]:
        if not self.reread:
            return set()
        return await checkpoints.reread_ids(
            self.scanner_id, self.folder, self.uidvalidity, (m.raw for m in fetched)
        )

    async def _commit_batch(self, batch: list[int], ahead: _Fetched) -> list[Processed]:
        """Process and commit the batch (steps 4-5); its side effects are not applied yet."""
        fetched, reread, elsewhere = ahead.messages, ahead.reread, ahead.elsewhere
        started = time.perf_counter()
        try:
            results = await self._in_one_transaction(fetched, reread, elsewhere, ahead.prepared)
        except Exception:  # noqa: BLE001 — rolled back; redo each message on its own
            logger.info(
                "batch in %s rolled back; processing its %d message(s) one by one",
                self.folder,
                len(fetched),
                exc_info=True,
            )
            if self.config.cache is not None:
                self.config.cache.clear()  # it may hold rows the rollback removed
            results = await self._one_by_one(fetched, reread, elsewhere)
        observe_stage("write", time.perf_counter() - started, len(fetched))
        record_messages(self.scanner_id, results)
        for result in results:
            self.progress.add(Counter(seen=1) + result.counts)
        await _publish(results)  # committed: tickets and comments may be announced
        self.progress.add({}, processed=len(batch) - len(fetched))  # logged by an earlier run
        await self.progress.flush()
        return results

    async def _finish_batch(
        self, batch: list[int], results: list[Processed], state: FolderState
    ) -> None:
        """Steps 6-7 for a committed batch: IMAP side effects, then the checkpoint."""
        await _before_side_effects(self.folder, batch)
        items = [PendingEffects(r.uid, r.effects) for r in results if r.effects]
        self.progress.add(
            await apply_effects(self.session, self.scanner_id, self.folder, self.uidvalidity, items)
        )
        self.progress.add({}, processed=len(results))
        await _before_checkpoint(self.folder, batch)
        # The checkpoint means "all done up to here": never past a message left for later.
        upto = max(batch) if self.left_uid is None else min(max(batch), self.left_uid - 1)
        await checkpoints.advance(state, upto)

    async def _in_one_transaction(
        self,
        fetched: list[FetchedMessage],
        reread: set[str],
        elsewhere: Mapping[str, str],
        prepared: list[Processed | Prepared] | None = None,
    ) -> list[Processed]:
        """The fast path: the whole batch commits at once (one commit instead of hundreds).

        Each message still commits together with its log row, and a crash before the commit
        leaves none of the batch logged, so all of it is simply read again."""
        async with in_transaction() as conn:
            results = await process_batch(
                self._batch(fetched, reread, elsewhere), conn=conn, prepared=prepared
            )
            await _write_logs(results, conn)
        return results

    async def _one_by_one(
        self, fetched: list[FetchedMessage], reread: set[str], elsewhere: Mapping[str, str]
    ) -> list[Processed]:
        """The safe path: a transaction per message, failures quarantined, except that a
        message another scan logged meanwhile is left to it, and a message whose transaction
        failed for a transient reason is left unlogged for the next scan (never quarantined:
        the mail is fine, and a quarantined mail gets no ticket)."""
        results = []
        uncached = replace(self.config, cache=None)
        for message in fetched:
            late = self.timed_out.get(message.uid)
            if late is not None:
                results.append(late.logged())
                continue
            try:
                with log_context(uid=message.uid):
                    result = await process_message(
                        uncached,
                        self.rules,
                        self.folder,
                        self.uidvalidity,
                        message.uid,
                        message.raw,
                        run_id=self.progress.run.id,
                        reread_ids=reread,
                        history=self.history.of(message.uid) if self.history else None,
                        server_id=message.server_id,
                        elsewhere=elsewhere,
                    )
            except LoggedElsewhere:
                logger.info("uid %s in %s was logged by another scan", message.uid, self.folder)
                self.progress.add({}, processed=1)
                continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                logger.warning(
                    "uid %s in %s left for the next scan: %s", message.uid, self.folder, exc
                )
                self.left_uid = min(message.uid, self.left_uid or message.uid)
                continue
            results.append(result)
        await _insert_rows([r for r in results if not r.saved])
        return results


async def _start_run(
    scanner: Scanner, scan_run_id: int | None, trigger: str
) -> tuple[ScanRun, bool]:
    """The run, RUNNING now, and whether it was RUNNING already: resumed after its worker
    stopped (shutdown, lost lock, crash); what that worker did is committed and counted on
    the row, and this scan adds to it."""
    now = datetime.now(UTC)
    resumed = False
    if scan_run_id is not None:
        run = await ScanRun.get(id=scan_run_id, scanner_id=scanner.id)
        resumed = run.status == ScanRunStatus.RUNNING
    else:
        run = ScanRun(scanner=scanner, trigger=trigger)
    run.status, run.started_at, run.finished_at = ScanRunStatus.RUNNING, now, None
    run.error = None  # type: ignore[assignment]  # nullable column
    await run.save()
    await Scanner.filter(id=scanner.id).update(last_scan_at=now)
    return run, resumed


async def _finish_run(
    run: ScanRun, progress: Progress, error: str | None, warnings: list[ScanWarning] | None = None
) -> None:
    """Record the outcome. `warnings` (None: the scan never got to the folders) end a run
    SUCCEEDED with them, and become the scanner's health warnings, without any backoff."""
    now = datetime.now(UTC)
    run.status = ScanRunStatus.FAILED if error else ScanRunStatus.SUCCEEDED
    run.error, run.finished_at = error, now  # type: ignore[assignment]  # nullable column
    run.counts, run.processed = dict(progress.counts), progress.processed
    run.total = max(progress.total, progress.processed)
    run.warnings = list(warnings or [])
    await run.save()
    scanner_id = run.scanner_id  # type: ignore[attr-defined]
    if error:
        await Scanner.filter(id=scanner_id).update(
            last_error=error, failure_count=F("failure_count") + 1
        )
    else:
        await Scanner.filter(id=scanner_id).update(
            last_success_at=now, last_error=None, failure_count=0, warnings=warnings or None
        )
    await progress.publish()


async def _record_end(run: ScanRun, *args: Any) -> None:
    """`_finish_run(run, *args)`, tried again once after a transient database failure: a
    connection the server dropped just before (a restart, a failover) fails only the first
    try, as the pool replaces it. Without this the scan raised, and its run stayed RUNNING
    (fault-injection suite, PostgreSQL connections dropped)."""
    try:
        await _finish_run(run, *args)
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.warning("recording the end of run %s failed; trying again", run.id, exc_info=True)
        await asyncio.sleep(0.1)
        await _finish_run(run, *args)


async def _scan(scanner: Scanner, settings: Settings, progress: Progress) -> list[ScanWarning]:
    """Scan every folder; returns the warnings (a folder the rules name that is gone: the
    other folders are scanned all the same, and the run does not fail for it)."""
    rules = await load_rules(scanner)
    folders = _folders(rules)
    if not folders:
        return []
    config = await scan_config(scanner, settings)
    warnings: list[ScanWarning] = []  # broken rules quarantine their mail instead (process.py)
    async with await open_session(scanner) as session:
        for folder in folders:
            try:
                await _FolderScan(session, config, rules, folder, progress).run()
            except MailError as exc:
                if exc.code != ErrorCode.FOLDER_NOT_FOUND:
                    raise
                logger.warning("scanner %s: folder %r is missing", scanner.name, folder)
                warnings.append(missing_folder_warning(folder, rules))
    return warnings


async def run_scan(
    scanner_id: int,
    scan_run_id: int | None = None,
    *,
    trigger: str = "manual",
    settings: Settings | None = None,
) -> ScanRun:
    """Scan one scanner now and return its finished ScanRun (FAILED with a human `error`
    when it could not connect; SUCCEEDED with `warnings` when a rule's folder is missing).
    Never raises for mail trouble; locking against concurrent scans is the caller's job
    (workers). Cancelled with the
    message `workers.lock.LOCK_LOST`, it leaves the run RUNNING for the lock's next holder."""
    settings = settings or load_settings()
    scanner = await Scanner.get(id=scanner_id)
    with log_context(scanner_id=scanner_id, scan_run_id=scan_run_id):
        run, resumed = await _start_run(scanner, scan_run_id, trigger)
        with log_context(scan_run_id=run.id):
            return await _run(scanner, run, settings, resumed)


async def _run(scanner: Scanner, run: ScanRun, settings: Settings, resumed: bool) -> ScanRun:
    # A resumed run goes on from what its earlier holder (a stalled, stopped or dead worker)
    # committed and counted, so the run ends with the whole scan's figures.
    progress = Progress(run)
    if resumed:
        progress.add(run.counts or {}, processed=run.processed or 0)
        progress.add_total(run.processed or 0)
    await progress.publish()
    error: str | None = None
    warnings: list[ScanWarning] | None = None
    try:
        warnings = await _scan(scanner, settings, progress)
    except MailError as exc:
        logger.warning("scan of %s failed: %s (%s)", scanner.name, exc.message, exc.detail)
        error = exc.message
    except shutdown.ShutdownRequested:
        # Stopped between batches: what was done is committed and checkpointed. The run
        # stays RUNNING for the next worker to resume, like a run whose lock passed on.
        await progress.flush(force=True)
        record_run(run, "interrupted")
        logger.info("scan of %s stopped for shutdown after %d message(s); the next worker "
                    "resumes it", scanner.name, progress.processed)
        raise
    except Exception as exc:
        logger.exception("scan of %s failed unexpectedly", scanner.name)
        error = f"Internal error: {type(exc).__name__}: {exc}"
    except asyncio.CancelledError as exc:
        if shutdown.requested():
            # The shutdown's time ran out mid-batch: that batch rolls back, and the run
            # stays RUNNING for the next worker (or the next start) to resume.
            record_run(run, "interrupted")
        elif LOCK_LOST not in exc.args:  # cancelled: record it, let cancellation continue
            await _record_end(run, progress, "The scan was cancelled.")
            record_run(run)
        # else the scanner's lock passed to another worker, which resumes this very run:
        # marking it FAILED here would end the run under it (or keep it from being resumed)
        raise
    except BaseException:
        await _record_end(run, progress, "The scan was cancelled.")
        record_run(run)
        raise
    await _record_end(run, progress, error, warnings)
    record_run(run)
    logger.info("scan of %s %s: %s", scanner.name, run.status.value, run.counts)
    return run
