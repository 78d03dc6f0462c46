"""What a scan reports to the metrics (ops/metrics.py): each message's outcome, each run's end.

Kept apart from the pipeline so the pipeline only says *when*; the mapping from a log row
to a bounded outcome label lives here.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..models import MessageOutcome, ScanRun
from ..ops import metrics

if TYPE_CHECKING:
    from .process import Processed


def message_outcome(result: Processed) -> tuple[str, str]:
    """(outcome, reason) labels of one processed message."""
    outcome = result.log.outcome if result.log is not None else result.fields.get("outcome")
    reason = result.log.reason if result.log is not None else result.fields.get("reason")
    if outcome == MessageOutcome.QUARANTINED:
        return "quarantined", ""
    if result.counts.get("errors"):
        return "error", ""
    if outcome == MessageOutcome.SKIPPED:
        return "skipped", metrics.skip_reason(reason)
    if outcome == MessageOutcome.NO_MATCH:
        return "no_match", ""
    if result.counts.get("tickets_created"):
        return "ticket_created", ""
    if result.counts.get("comments_added"):
        return "comment_added", ""
    return "processed", ""


def record_messages(scanner_id: int, results: Iterable[Processed]) -> None:
    tally: dict[tuple[str, str], int] = {}
    for result in results:
        key = message_outcome(result)
        tally[key] = tally.get(key, 0) + 1
    for (outcome, reason), count in tally.items():
        metrics.MESSAGES.labels(str(scanner_id), outcome, reason).inc(count)


def record_run(run: ScanRun, status: str | None = None) -> None:
    """Count a run that ended (or, `status="interrupted"`, was handed on by a shutdown)."""
    label = status or run.status.value
    metrics.SCAN_RUNS.labels(str(run.scanner_id), label).inc()  # type: ignore[attr-defined]
    started: datetime | None = run.started_at
    finished: datetime = run.finished_at or datetime.now(UTC)
    if started is not None:
        metrics.SCAN_SECONDS.labels(label).observe(max((finished - started).total_seconds(), 0))


@contextmanager
def stage(name: str, messages: int) -> Iterator[None]:
    """Time a batch's stage; its messages share the time (see metrics.STAGE_SECONDS)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.observe_stage(name, time.perf_counter() - start, messages)
