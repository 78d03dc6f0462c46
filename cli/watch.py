"""`mailscanner watch`: hold the push watchers' IMAP connections; scans go into the arq queue.

Run as many as you like on as many machines as you like, beside `mailscanner worker`: they
share the scanners through Redis leases (`watch/leases.py`). SIGTERM or Ctrl-C closes every
connection and gives the leases back, so another watcher takes over at its next tick.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .common import settings_or_exit
from .worker import _ping, _redacted


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("watch", help="hold IMAP IDLE connections and queue scans on new mail")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


async def _main() -> None:
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
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await supervisor.start()
        logging.getLogger(__name__).info("watching as %s", leases.me)
        await stopping.wait()
    finally:
        await supervisor.stop()
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
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
    return 0
