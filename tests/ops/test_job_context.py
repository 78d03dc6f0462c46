"""The request id travels with the jobs a request queues (arq on the machine's Redis)."""
# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import io
import json
import logging
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import Job

from mailscanner.ops.logs import JsonFormatter, log_context
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.job_context import with_log_context
from mailscanner.workers.queue import ArqQueue

from ..workers.fixtures import jobs_config, redis  # noqa: F401


async def test_a_job_queued_during_a_request_carries_its_id_and_logs_with_it(
    redis: ArqRedis, jobs_config: JobsConfig
) -> None:
    queue = ArqQueue(redis, jobs_config)
    # when a request queues a job, and something else queues one outside any request
    with log_context(request_id="req-42"):
        assert await queue.enqueue("send_outbound", 7, job_id="send:7")
    assert await queue.enqueue("send_outbound", 8, job_id="send:8")
    # then the first job's arguments carry the request id, the second's do not
    first = await Job(jobs_config.job_id("send:7"), redis).info()
    second = await Job(jobs_config.job_id("send:8"), redis).info()
    assert first is not None and second is not None
    assert (first.args, first.kwargs) == ((7,), {"request_id": "req-42"})
    assert (second.args, second.kwargs) == ((8,), {})

    # and the job, when it runs, logs with its job id and that request id
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mailscanner.test.job")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    seen: list[Any] = []

    async def job(ctx: dict[str, Any], outbound_id: int) -> None:
        seen.append(outbound_id)
        logger.info("sending %s", outbound_id)

    try:
        await with_log_context(job)({"job_id": "send:7"}, *first.args, **first.kwargs)
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert seen == [7]
    assert (entry["job_id"], entry["request_id"]) == ("send:7", "req-42")
