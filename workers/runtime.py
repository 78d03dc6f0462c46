"""Start and stop the jobs layer inside the API process (the Starlette lifespan calls these).

Embedded (no REDIS_URL): `runner = await start_embedded(settings, watch=True)` runs the
worker's job functions, cron schedule and push watchers in-process; `await runner.stop()`
on shutdown.
With Redis: `api = await start_api_queue(settings)` connects arq for enqueueing and Redis
pub/sub for events (the jobs run in `mailscanner worker` processes); `await api.stop()`.
`stop = await start_for_api(settings)` picks the right one for the lifespan.
All expect the database to be initialised already.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from .. import events
from ..ops import shutdown
from ..transport.smtp_connections import SmtpConnections
from ..watch.config import WatchConfig
from .config import JobsConfig
from .cron import MemoryTickJournal
from .inprocess import CronLoop, InProcessQueue
from .lock import DatabaseLocks
from .queue import ArqQueue, set_queue
from .redis_events import RedisBroker

if TYPE_CHECKING:
    from ..settings import Settings
    from ..watch.supervisor import Supervisor

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedRunner:
    queue: InProcessQueue
    cron: CronLoop
    journal: MemoryTickJournal = field(default_factory=MemoryTickJournal)
    watchers: Supervisor | None = None

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop the schedule, give running jobs `grace` seconds to finish, cancel the rest.

        Nothing is lost by cancelling: a cancelled scan ends FAILED ("cancelled") and the next
        start's first tick scans the mailbox again (its log rows make that idempotent); queued
        mail stays in the outbox for the sweep.
        """
        if self.watchers is not None:
            await self.watchers.stop()  # no new scan requests from here on
        await self.cron.stop()
        await self.queue.close(grace)
        set_queue(None)
        connections = self.queue.ctx.get("smtp_connections")
        if isinstance(connections, SmtpConnections):
            await connections.close()


async def start_embedded(
    settings: Settings,
    config: JobsConfig | None = None,
    *,
    cron: bool = True,
    watch: bool = False,
    watch_config: WatchConfig | None = None,
) -> EmbeddedRunner:
    """Run jobs and the cron (and with `watch`, the push watchers of every scanner) in this
    process and install the in-process queue."""
    from .settings import build_cron_jobs, build_functions

    config = config or JobsConfig.from_env()
    journal = MemoryTickJournal()
    cron_jobs = build_cron_jobs(config)
    ctx = {
        "settings": settings,
        "jobs_config": config,
        # A lease in the database: a `mailscanner scan` in another process honours it too.
        "locks": DatabaseLocks(config.lock_ttl_seconds),
        "journal": journal,
        "smtp_connections": SmtpConnections(),
    }
    queue = InProcessQueue([*build_functions(config), *cron_jobs], ctx, max_jobs=config.max_jobs)
    set_queue(queue)
    loop = CronLoop(queue, cron_jobs if cron else [])
    if cron:
        loop.start()
    logger.info("jobs run in-process; scheduler tick every %ss", config.tick_seconds)
    runner = EmbeddedRunner(queue, loop, journal)
    if watch:
        from ..watch.leases import EveryScanner
        from ..watch.supervisor import Supervisor

        runner.watchers = Supervisor(EveryScanner(), watch_config, config)
        await runner.watchers.start()
    return runner


@dataclass
class ApiQueue:
    pool: ArqRedis
    broker: RedisBroker

    async def stop(self) -> None:
        set_queue(None)
        events.set_broker(events.InProcessBroker())
        await self.broker.close()
        await self.pool.aclose()


async def start_api_queue(settings: Settings, config: JobsConfig | None = None) -> ApiQueue:
    """Connect to REDIS_URL: enqueue through arq, publish/subscribe events through Redis."""
    if settings.redis_url is None:
        raise ValueError("start_api_queue needs REDIS_URL; use start_embedded without it")
    config = config or JobsConfig.from_env()
    pool = await create_pool(
        RedisSettings.from_dsn(settings.redis_url), default_queue_name=config.queue_name
    )
    broker = RedisBroker(pool, config)
    set_queue(ArqQueue(pool, config))
    events.set_broker(broker)
    return ApiQueue(pool, broker)


async def start_for_api(settings: Settings) -> Callable[[], Awaitable[None]]:
    """Start the jobs layer for the API process; returns the coroutine function that stops it."""
    if settings.embedded:
        runner = await start_embedded(settings, watch=True)

        async def stop() -> None:
            # Running scans stop at their next batch boundary and leave their run for the
            # next start to resume (ops/shutdown.py); what is left after the budget is
            # cancelled. The flag is this app's: a test process starts many.
            shutdown.request()
            try:
                await runner.stop(grace=shutdown.remaining(settings.shutdown_seconds))
            finally:
                shutdown.reset()

        return stop
    api = await start_api_queue(settings)
    return api.stop


async def on_scanner_activated(scanner_id: int) -> None:
    """Activation takes effect now: queue a first scan (later ones follow the interval)."""
    from .scan import enqueue_scan

    await enqueue_scan(scanner_id, "schedule")


async def on_scanner_deactivated(scanner_id: int) -> None:
    """Nothing to cancel: the cron skips inactive scanners and a queued scheduled (or push)
    scan of a deactivated scanner ends as "deactivated" without touching the mailbox; a
    running scan finishes its current pass. Its watchers close their connections when told
    (`workers.schedule` publishes the change)."""
