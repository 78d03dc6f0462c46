"""Metric label bounds and the batch-fed histogram, read back through the Prometheus parser."""
from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, generate_latest

from mailscanner.models import MessageOutcome
from mailscanner.ops import metrics
from mailscanner.ops.metrics import BatchHistogram
from mailscanner.scanning.observe import message_outcome
from mailscanner.scanning.process import Processed

from .metrics_text import parse, value


def test_skip_reasons_map_free_text_to_a_small_fixed_set() -> None:
    cases = {
        "sent by this helpdesk (our Message-ID)": "own_mail",
        "auto-reply: X-Autoreply header": "auto_reply",
        "bounce: 550 5.1.1 user unknown <bob@example.com>": "bounce",
        "delivery report: delivered": "delivery_report",
        "feedback report: abuse": "feedback",
        "the same message was processed in Archive/2024": "duplicate",
        "already processed before the folder's UIDVALIDITY changed": "reread",
        "Subject: hello bob@example.com": "other",
        None: "other",
    }
    assert {reason: metrics.skip_reason(reason) for reason in cases} == cases


def _result(outcome: MessageOutcome, reason: str | None = None, **counts: int) -> Processed:
    return Processed(1, None, False, [], Counter(counts),
                     fields={"outcome": outcome, "reason": reason})


def test_each_message_gets_one_outcome_label() -> None:
    assert message_outcome(_result(MessageOutcome.PROCESSED, tickets_created=1)) == (
        "ticket_created", "")
    assert message_outcome(_result(MessageOutcome.PROCESSED, comments_added=1)) == (
        "comment_added", "")
    assert message_outcome(_result(MessageOutcome.PROCESSED, moved=1)) == ("processed", "")
    assert message_outcome(_result(MessageOutcome.NO_MATCH)) == ("no_match", "")
    assert message_outcome(_result(MessageOutcome.SKIPPED, "bounce: 5.1.1")) == (
        "skipped", "bounce")
    assert message_outcome(_result(MessageOutcome.QUARANTINED, "rule 3 failed",
                                   errors=1)) == ("quarantined", "")


def test_a_batch_histogram_reads_back_as_a_prometheus_histogram() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("demo_seconds", "demo", "stage", (0.001, 0.01, 0.1))
    registry.register(histogram)
    # when a batch of 200 messages took 0.4 s to write (2 ms each) and one message 0.5 s
    histogram.observe("write", 0.4 / 200, 200)
    histogram.observe("write", 0.5, 1)
    samples = parse(generate_latest(registry).decode())
    # then the buckets are cumulative, the count is per message and the sum is the time
    assert value(samples, "demo_seconds_bucket", stage="write", le="0.001") == 0
    assert value(samples, "demo_seconds_bucket", stage="write", le="0.01") == 200
    assert value(samples, "demo_seconds_bucket", stage="write", le="0.1") == 200
    assert value(samples, "demo_seconds_bucket", stage="write", le="+Inf") == 201
    assert value(samples, "demo_seconds_count", stage="write") == 201
    assert abs(value(samples, "demo_seconds_sum", stage="write") - 0.9) < 1e-9
