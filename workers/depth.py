"""The queue depth sample behind the `mailscanner_outbox_emails` and
`mailscanner_job_queue_depth` gauges (ops/collectors.py reads it at scrape time)."""
from __future__ import annotations

from tortoise.functions import Count

from ..models.outbound_email import DeliveryStatus, OutboundEmail
from ..ops.collectors import Depths
from .inprocess import InProcessQueue
from .queue import ArqQueue, QueueNotConfigured, get_queue

_WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


async def sample() -> Depths:
    rows = await (
        OutboundEmail.filter(status__in=_WAITING)
        .annotate(rows=Count("id"))
        .group_by("status")
        .values_list("status", "rows")
    )
    outbox = {status.value: 0 for status in _WAITING}
    for status, count in rows:
        outbox[DeliveryStatus(status).value] = int(count)
    return Depths(outbox=outbox, jobs=await _jobs())


async def _jobs() -> int | None:
    try:
        queue = get_queue()
    except QueueNotConfigured:
        return None
    if isinstance(queue, ArqQueue):
        return int(await queue.pool.zcard(queue.config.queue_name))
    if isinstance(queue, InProcessQueue):
        return queue.pending()
    return None
