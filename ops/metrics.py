"""Every Prometheus metric of the service, in one registry, with bounded label sets.

Labels carry only values from small fixed sets (outcomes, statuses, error codes, operation
types) and the scanner id, which grows with the number of mailboxes configured, never with
traffic. Subjects, addresses, folder names and free text never become labels: a label value
is a new time series.

Each process (`serve`, `worker`, `watch`) holds its own registry and serves it itself
(`serving.py`), so several processes never share files or need PROMETHEUS_MULTIPROC_DIR;
Prometheus scrapes every process and sums. Parse processes record nothing: their time is
measured by the scan around them.
"""
from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

# Buckets in seconds. Per-message stages take milliseconds; scans seconds to an hour.
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SCAN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

MESSAGES = Counter(
    "mailscanner_messages_processed", "Mails a scan handled, by outcome (ticket_created, "
    "comment_added, processed, no_match, skipped, quarantined, error) and, for skipped mail, "
    "the reason", ["scanner_id", "outcome", "reason"], registry=REGISTRY)
SCAN_RUNS = Counter(
    "mailscanner_scan_runs", "Scan runs that ended, by status (succeeded, failed, unchanged, "
    "interrupted: stopped by a shutdown and handed to the next worker)",
    ["scanner_id", "status"], registry=REGISTRY)
SCAN_SECONDS = Histogram(
    "mailscanner_scan_duration_seconds", "Wall time of a scan run, by status",
    ["status"], buckets=_SCAN_BUCKETS, registry=REGISTRY)


class BatchHistogram(Collector):
    """A histogram fed a batch at a time: `count` observations of one value cost one bucket
    lookup, not `count` (prometheus_client's Histogram observes one value per call, about
    1.5 µs each: 600 calls per 200-mail batch was the bulk of what metrics cost a scan)."""

    def __init__(self, name: str, documentation: str, label: str,
                 buckets: tuple[float, ...]) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = (*buckets, math.inf)
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[int], list[float]]] = {}  # value -> counts, [sum]

    def observe(self, label_value: str, value: float, count: int = 1) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            counts, total = self._series.setdefault(
                label_value, ([0] * len(self.bounds), [0.0]))
            counts[index] += count
            total[0] += value * count

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self._lock:
            series = {k: (list(c), t[0]) for k, (c, t) in self._series.items()}
        for label_value, (counts, total) in sorted(series.items()):
            cumulative = list(itertools.accumulate(counts))
            family.add_metric(
                [label_value],
                [(_le(b), float(n)) for b, n in zip(self.bounds, cumulative,
                                                                 strict=True)],
                total)
        yield family


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it ("+Inf", "0.005")."""
    return "+Inf" if bound == math.inf else repr(float(bound))


STAGE_SECONDS = BatchHistogram(
    "mailscanner_message_stage_seconds", "Time per message in each scan stage: fetch (IMAP), "
    "parse (parse, classify, match), write (the database transaction); measured per batch "
    "and divided among its messages", "stage", _STAGE_BUCKETS)
REGISTRY.register(STAGE_SECONDS)
IMAP_ERRORS = Counter(
    "mailscanner_imap_connection_errors", "IMAP connections or logins that failed, by error "
    "code (HOST_NOT_FOUND, LOGIN_REJECTED, TLS_ERROR, ...)", ["code"], registry=REGISTRY)
COMMENT_EMAILS = Counter(
    "mailscanner_comment_emails", "Comment email send attempts, by outcome (sent, retry, "
    "failed)", ["outcome"], registry=REGISTRY)
SEND_SECONDS = Histogram(
    "mailscanner_comment_email_latency_seconds", "From the comment being saved (its email "
    "queued) to the SMTP server accepting the email", buckets=_SEND_BUCKETS, registry=REGISTRY)
OAUTH_FAILURES = Counter(
    "mailscanner_oauth_refresh_failures", "OAuth token refreshes that failed, by provider and "
    "kind (reauthorization_needed, error)", ["provider", "kind"], registry=REGISTRY)
GRAPHQL_REQUESTS = Counter(
    "mailscanner_graphql_requests", "GraphQL operations over HTTP, by operation type (query, "
    "mutation, unknown) and result (ok, error: the answer carries errors)",
    ["operation_type", "result"], registry=REGISTRY)
GRAPHQL_SECONDS = Histogram(
    "mailscanner_graphql_request_duration_seconds", "GraphQL execution time over HTTP, by "
    "operation type", ["operation_type"], buckets=_REQUEST_BUCKETS, registry=REGISTRY)
SUBSCRIPTIONS = Gauge(
    "mailscanner_subscriptions_open", "GraphQL subscriptions running over WebSockets in this "
    "process", registry=REGISTRY)
SHUTTING_DOWN = Gauge(
    "mailscanner_shutting_down", "1 once this process was asked to stop (SIGTERM) and is "
    "finishing the work in hand", registry=REGISTRY)

# Skip reasons as the pipeline writes them (models.MessageLog.reason), by prefix: the text
# after the prefix is free (a bounce's status, a folder name) and must not become a label.
_SKIP_REASONS = (
    ("sent by this helpdesk", "own_mail"),
    ("auto-reply", "auto_reply"),
    ("bounce", "bounce"),
    ("delivery report", "delivery_report"),
    ("feedback report", "feedback"),
    ("the same message was processed", "duplicate"),
    ("already processed before", "reread"),
)


def skip_reason(reason: str | None) -> str:
    """The bounded label for a skipped mail's free-text reason."""
    text = reason or ""
    for prefix, label in _SKIP_REASONS:
        if text.startswith(prefix):
            return label
    return "other"


def observe_stage(stage: str, seconds: float, messages: int) -> None:
    """Record a batch's time in `stage` as `messages` observations of the per-message mean."""
    if messages > 0:
        STAGE_SECONDS.observe(stage, seconds / messages, messages)
