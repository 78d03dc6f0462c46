"""Every job runs with its log context: its job id, and the request id of the GraphQL request
that queued it (carried as the job's `request_id` keyword, see queue.ArqQueue.enqueue; in
the embedded mode the job's task inherits the request's context by itself)."""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast

from arq.typing import WorkerCoroutine

from ..ops.logs import current, log_context


def with_log_context(job: Callable[..., Awaitable[Any]]) -> WorkerCoroutine:
    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, request_id: str | None = None,
                  **kwargs: Any) -> Any:
        with log_context(job_id=ctx.get("job_id"), request_id=request_id or current("request_id")):
            return await job(ctx, *args, **kwargs)

    return cast(WorkerCoroutine, run)
