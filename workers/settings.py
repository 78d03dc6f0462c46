"""`WorkerSettings` for arq, as a plain class: `mailscanner worker` (or `arq
mailscanner.workers.settings.WorkerSettings`) runs it against REDIS_URL.

The same `FUNCTIONS` and `CRON_JOBS` run inside `mailscanner serve` in embedded mode
(`workers/inprocess.py`), so the schedule and the job code exist once.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob, cron
from arq.worker import Function, Worker, func

from ..db import close_db, init_db
from ..settings import load_settings
from ..transport.smtp_connections import SmtpConnections
from .config import JobsConfig
from .cron import RedisTickJournal, tick_scanners
from .job_context import with_log_context
from .lock import DatabaseLocks
from .queue import ArqQueue, set_queue
from .scan import scan_scanner
from .send import MAX_ATTEMPTS, send_outbound

logger = logging.getLogger(__name__)

# Retry(defer) while another worker holds a scanner's lock counts as a try: allow plenty.
SCAN_MAX_TRIES = 50
SEND_MAX_TRIES = 2 * MAX_ATTEMPTS + 2  # "not due yet" retries count too


def build_functions(config: JobsConfig) -> list[Function]:
    """Every job function with its options; keep_result=0 so a finished id can be reused at once."""
    return [
        func(
            with_log_context(scan_scanner),
            name="scan_scanner",
            keep_result=0,
            timeout=config.scan_timeout_seconds,
            max_tries=SCAN_MAX_TRIES,
        ),
        # The outbox row, not arq, counts attempts (send.MAX_ATTEMPTS); arq must not give up first.
        func(with_log_context(send_outbound), name="send_outbound", keep_result=0,
             max_tries=SEND_MAX_TRIES),
    ]


def build_cron_jobs(config: JobsConfig) -> list[CronJob]:
    """The scheduler tick: every `tick_seconds` (60 in production), on the clock.

    arq gives a cron firing the job id `<name>:<ms>`, so the prefix goes into the name: two
    deployments (or tests) on one Redis must not swallow each other's ticks.
    """
    return [
        cron(
            tick_scanners,
            name=config.prefix + "tick_scanners",
            second=config.cron_second_set() or 0,
            minute=config.cron_minute_set(),
            run_at_startup=False,
            keep_result=0,
            timeout=max(config.tick_seconds * 5, 60),
            max_tries=1,
        )
    ]


async def startup(ctx: dict[str, Any]) -> None:
    """Connect the database, install the queue, scanner locks and the Redis event broker."""
    from .. import events
    from .redis_events import RedisBroker

    config: JobsConfig = ctx.setdefault("jobs_config", JobsConfig.from_env())
    # Tests that already hold a connected database pass ctx["settings"] and owns_db=False.
    if ctx.setdefault("owns_db", True):
        ctx["settings"] = ctx.get("settings") or load_settings()
        await init_db(ctx["settings"])
    redis = ctx["redis"]
    set_queue(ArqQueue(redis, config))
    # The database lease, not a Redis key: `mailscanner scan` takes the very same one.
    ctx["locks"] = DatabaseLocks(config.lock_ttl_seconds)
    ctx["journal"] = RedisTickJournal(redis, config)
    ctx["broker"] = broker = RedisBroker(redis, config)
    events.set_broker(broker)
    ctx["smtp_connections"] = SmtpConnections()
    from ..ops import collectors
    from .depth import sample

    collectors.install(sample)  # the queue depth gauges, read at scrape time


async def shutdown(ctx: dict[str, Any]) -> None:
    """Undo `startup`; arq calls this from `Worker.close()`."""
    from .. import events

    connections = ctx.pop("smtp_connections", None)
    if connections is not None:
        await connections.close()
    broker = ctx.pop("broker", None)
    if broker is not None:
        await broker.close()
        events.set_broker(events.InProcessBroker())
    set_queue(None)
    if ctx.get("owns_db", True):
        await close_db()


def make_worker(config: JobsConfig, **overrides: Any) -> Worker:
    """A Worker with fresh functions, cron jobs and ctx (arq mutates them) for `config`."""
    options: dict[str, Any] = {
        "functions": build_functions(config),
        "cron_jobs": build_cron_jobs(config),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "queue_name": config.queue_name,
        "max_jobs": config.max_jobs,
        "keep_result": 0,
        "ctx": {"jobs_config": config},
        "poll_delay": config.poll_delay_seconds,
    }
    return Worker(**{**options, **overrides})


def redis_settings_from_env() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")


_CONFIG = JobsConfig.from_env()


class WorkerSettings:
    """arq reads these attributes; `cli/worker.py` overrides redis_settings and burst."""

    functions = build_functions(_CONFIG)
    cron_jobs = build_cron_jobs(_CONFIG)
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings_from_env()
    queue_name = _CONFIG.queue_name
    max_jobs = _CONFIG.max_jobs
    poll_delay = _CONFIG.poll_delay_seconds
    ctx = {"jobs_config": _CONFIG}
    # arq's default keeps results an hour; our ids must be reusable as soon as a job ends.
    keep_result = 0
