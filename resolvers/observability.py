"""GraphQL operations in the metrics: count by operation type and result, time them.

A schema extension, so it sees the operation type strawberry parsed (no second parse) and
every transport alike; HTTP requests refused before execution (no token, too large, a
mutation over GET) are answered by the view and the edge middleware and not counted here.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from ..ops import metrics


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # noqa: BLE001 — no parsable document, or no such operation
            kind = "unknown"
        result = context.result
        failed = result is None or bool(getattr(result, "errors", None))
        metrics.GRAPHQL_REQUESTS.labels(kind, "error" if failed else "ok").inc()
        metrics.GRAPHQL_SECONDS.labels(kind).observe(time.perf_counter() - start)
