"""`mailscanner watch`: hold the push watchers' IMAP connections; scans go into the arq queue.

Run as many as you like on as many machines as you like, beside `mailscanner worker`: they
share the scanners through Redis leases (`watch/leases.py`). SIGTERM or Ctrl-C closes every
connection and gives the leases back (within MAILSCANNER_SHUTDOWN_SECONDS), so another
watcher takes over at its next tick. `--metrics-port` serves its Prometheus metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from ..ops import shutdown
from .common import settings_or_exit
from .worker import _ping, _redacted


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("watch", help="hold IMAP IDLE connections and queue scans on new mail")
    p.add_argument("--log-level", default="info")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve Prometheus metrics on this port (/metrics)")
    p.set_defaults(func=run)


async def _main(metrics_port: int | None) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    from .. import events
    from ..db import close_db, init_db
    from ..watch.config import WatchConfig
    from ..watch.leases import RedisLeases
    from ..watch.supervisor import Supervisor
    from ..workers.config import JobsConfig
    from ..workers.queue import ArqQueue, set_queue
    from ..workers.redis_events import RedisBroker

    settings = settings_or_exit()
    assert settings.redis_url is not None
    jobs = JobsConfig.from_env()
    config = WatchConfig.from_env()
    await init_db(settings)
    pool = await create_pool(
        RedisSettings.from_dsn(settings.redis_url), default_queue_name=jobs.queue_name
    )
    broker = RedisBroker(pool, jobs)
    events.set_broker(broker)
    set_queue(ArqQueue(pool, jobs))
    leases = RedisLeases(pool, jobs, config.lease_seconds)
    supervisor = Supervisor(leases, config, jobs)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown.request)
    from ..ops import collectors
    from ..workers.depth import sample
    collectors.install(sample)
    server = None
    if metrics_port is not None and settings.metrics != "off":
        from ..ops.serving import PortServer
        server = PortServer(metrics_port)
        server.start()
    try:
        await supervisor.start()
        logging.getLogger(__name__).info("watching as %s", leases.me)
        await shutdown.wait()
    finally:
        # Watchers only queue scans: closing their connections and giving the leases back
        # is the whole of their graceful stop, bounded like every process's.
        try:
            await asyncio.wait_for(supervisor.stop(), settings.shutdown_seconds)
        except TimeoutError:
            logging.getLogger(__name__).warning("watchers did not stop within %ss",
                                                settings.shutdown_seconds)
        collectors.install(None)
        if server is not None:
            server.stop()
        set_queue(None)
        await broker.close()
        events.set_broker(events.InProcessBroker())
        await pool.aclose()
        await close_db()


def run(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    if settings.redis_url is None:
        print(
            "mailscanner watch: REDIS_URL is not set; watchers share scanners through Redis "
            "(without Redis, `mailscanner serve` runs the watchers itself)",
            file=sys.stderr,
        )
        return 2
    reason = asyncio.run(_ping(settings.redis_url))
    if reason is not None:
        print(
            f"mailscanner watch: cannot reach Redis at {_redacted(settings.redis_url)}: {reason}",
            file=sys.stderr,
        )
        return 2
    from ..ops import logs
    logs.configure(args.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.metrics_port))
    return 0
