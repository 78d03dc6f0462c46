"""Tunables of the jobs layer, read from the environment, and every Redis key name we use.

Production needs none of these variables. Tests compress time (a "minute" of scheduling can
last 2 s, the cron can tick every 2 s, a lock can expire after 2 s) and isolate themselves on
a shared Redis with `MAILSCANNER_REDIS_PREFIX`: arq's job keys (`arq:job:<id>`) are global,
so the prefix goes into job ids, the queue name, lock keys and event channels alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..settings import ConfigError

# Unprefixed names; `JobsConfig` prepends the deployment's prefix.
QUEUE_NAME = "mailscanner:queue"
SCAN_LOCK_KEY = "mailscanner:lock:scan:{scanner_id}"
TICK_KEY = "mailscanner:tick:{slot_ms}"
EVENTS_CHANNEL = "mailscanner:events:{channel}"


def scan_job_id(scanner_id: int) -> str:
    """One job id per scanner: arq refuses a second job while the first is queued or running."""
    return f"scan:{scanner_id}"


def send_job_id(outbound_id: int) -> str:
    return f"send:{outbound_id}"


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum:g}")
    return value


@dataclass(frozen=True)
class JobsConfig:
    prefix: str = ""
    tick_seconds: int = 60  # how often the scheduler looks for due scanners
    minute_seconds: float = 60.0  # length of a "minute" of scan_interval_minutes (tests shrink it)
    max_backoff_minutes: float = 60.0
    lock_ttl_seconds: float = 60.0  # a dead worker's scanner is free again after this
    scan_timeout_seconds: float = 3600.0
    max_jobs: int = 10
    # arq's default is 0.5 s; a poll is one ZRANGEBYSCORE, and a worker whose max_jobs slots
    # are busy starts nothing new until the next poll, so this bounds latency and throughput.
    poll_delay_seconds: float = 0.1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JobsConfig:
        """Read MAILSCANNER_* job variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env
        tick = int(_number(env, "MAILSCANNER_CRON_SECONDS", 60, minimum=1))
        # arq's cron matches second/minute sets, so a tick must divide a minute or an hour.
        if not (60 % tick == 0 or (tick % 60 == 0 and 3600 % tick == 0)):
            raise ConfigError(
                "MAILSCANNER_CRON_SECONDS: must divide 60 (e.g. 5, 30) or 3600 (e.g. 300)"
            )
        return cls(
            prefix=env.get("MAILSCANNER_REDIS_PREFIX", ""),
            tick_seconds=tick,
            minute_seconds=_number(env, "MAILSCANNER_MINUTE_SECONDS", 60, minimum=0.1),
            max_backoff_minutes=_number(env, "MAILSCANNER_MAX_BACKOFF_MINUTES", 60, minimum=1),
            lock_ttl_seconds=_number(env, "MAILSCANNER_SCAN_LOCK_TTL", 60, minimum=0.5),
            scan_timeout_seconds=_number(env, "MAILSCANNER_SCAN_TIMEOUT", 3600, minimum=1),
            max_jobs=int(_number(env, "MAILSCANNER_MAX_JOBS", 10, minimum=1)),
            poll_delay_seconds=_number(env, "MAILSCANNER_POLL_DELAY", 0.1, minimum=0.01),
        )

    @property
    def queue_name(self) -> str:
        return self.prefix + QUEUE_NAME

    def job_id(self, job_id: str) -> str:
        return self.prefix + job_id

    def scan_lock_key(self, scanner_id: int) -> str:
        return self.prefix + SCAN_LOCK_KEY.format(scanner_id=scanner_id)

    def tick_key(self, slot_ms: int) -> str:
        return self.prefix + TICK_KEY.format(slot_ms=slot_ms)

    def events_channel(self, channel: str) -> str:
        return self.prefix + EVENTS_CHANNEL.format(channel=channel)

    def cron_second_set(self) -> set[int] | None:
        """arq `cron(second=...)` for the tick; None when the tick is whole minutes."""
        return set(range(0, 60, self.tick_seconds)) if self.tick_seconds < 60 else None

    def cron_minute_set(self) -> set[int] | None:
        if self.tick_seconds < 60:
            return None
        return set(range(0, 60, self.tick_seconds // 60))
