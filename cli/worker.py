"""`mailscanner worker [--burst] [--metrics-port PORT]`: run arq's `WorkerSettings` against
REDIS_URL.

SIGTERM or Ctrl-C stops it gracefully (ops/shutdown.py): no new job starts, a running scan
stops after the batch in hand and goes back to the queue for another worker, sends finish;
after MAILSCANNER_SHUTDOWN_SECONDS whatever still runs is cancelled, then connections close.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from .common import settings_or_exit

if TYPE_CHECKING:
    from ..ops.serving import PortServer


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run background jobs (scans, outgoing mail) from Redis")
    p.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    p.add_argument("--log-level", default="info")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve Prometheus metrics on this port (/metrics)")
    p.set_defaults(func=run)


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit(parts._replace(netloc=netloc))


async def _ping(url: str) -> str | None:
    """None if Redis answers, else a one-line reason (arq itself would retry for 5 s first)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        await client.aclose()
    return None


def run(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    if settings.redis_url is None:
        print(
            "mailscanner worker: REDIS_URL is not set; workers take jobs from Redis "
            "(without Redis, `mailscanner serve` runs jobs itself)",
            file=sys.stderr,
        )
        return 2
    reason = asyncio.run(_ping(settings.redis_url))
    if reason is not None:
        print(
            f"mailscanner worker: cannot reach Redis at {_redacted(settings.redis_url)}: {reason}",
            file=sys.stderr,
        )
        return 2
    from ..ops import logs
    logs.configure(args.log_level, settings.log_format)
    if settings.is_sqlite:
        # SQLite takes one writer at a time across processes: fine for one worker in tests,
        # "database is locked" once the API and several workers write together.
        logging.getLogger(__name__).warning(
            "DATABASE_URL is SQLite: run separate workers on PostgreSQL; SQLite is meant for "
            "the embedded mode (`mailscanner serve` without REDIS_URL)")

    from arq.connections import RedisSettings
    from arq.worker import create_worker

    from ..workers.settings import WorkerSettings

    # arq's Worker binds the current event loop in __init__; give it a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = create_worker(
        cast(Any, WorkerSettings),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        burst=args.burst,
        # arq's own graceful stop: no new jobs, running ones get this long, then cancelled.
        job_completion_wait=max(1, int(settings.shutdown_seconds)),
    )
    worker.ctx["settings"] = settings
    for sig in (signal.SIGTERM, signal.SIGINT):
        worker.loop.add_signal_handler(sig, _stop, worker, sig)
    server = _metrics_server(args.metrics_port, settings.metrics)
    try:
        worker.run()
    finally:
        if server is not None:
            server.stop()
    return 1 if args.burst and worker.jobs_failed else 0


def _stop(worker: Any, sig: signal.Signals) -> None:
    """Tell running scans to hand over at their next batch (ops/shutdown.py), then arq's
    wait-then-cancel; a second signal does not restart the wait."""
    from ..ops import shutdown
    if shutdown.requested():
        return
    shutdown.request()
    worker.handle_sig_wait_for_completion(sig)


def _metrics_server(port: int | None, setting: str) -> PortServer | None:
    if port is None or setting == "off":
        return None
    from ..ops.serving import PortServer
    server = PortServer(port)
    server.start()
    return server
