"""Tunables of the watchers, read from the environment (production needs none of them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..workers.config import _number

MAX_IDLE_SECONDS = 29 * 60  # RFC 2177: servers may drop an IDLE after 30 minutes


@dataclass(frozen=True)
class WatchConfig:
    tick_seconds: float = 5.0  # leases renewed, ownership and configuration re-checked
    reload_seconds: float = 30.0  # the scanner list is re-read at least this often
    lease_seconds: float = 15.0  # a dead watcher's scanners are free again after this
    idle_seconds: float = 600.0  # IDLE is left and re-entered this often (also a keepalive)
    connects_per_second: float = 100.0  # connection ramp per process (imap-login's backlog)
    max_backoff_seconds: float = 300.0
    answer_timeout_seconds: float = 30.0  # DONE, STATUS, NOOP must be answered within this

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WatchConfig:
        """Read MAILSCANNER_WATCH_* variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env
        return cls(
            tick_seconds=_number(env, "MAILSCANNER_WATCH_TICK_SECONDS", 5, minimum=0.2),
            reload_seconds=_number(env, "MAILSCANNER_WATCH_RELOAD_SECONDS", 30, minimum=0.2),
            lease_seconds=_number(env, "MAILSCANNER_WATCH_LEASE_SECONDS", 15, minimum=1),
            idle_seconds=min(
                _number(env, "MAILSCANNER_WATCH_IDLE_SECONDS", 600, minimum=1), MAX_IDLE_SECONDS
            ),
            connects_per_second=_number(
                env, "MAILSCANNER_WATCH_CONNECTS_PER_SECOND", 100, minimum=1
            ),
            max_backoff_seconds=_number(env, "MAILSCANNER_WATCH_MAX_BACKOFF", 300, minimum=1),
        )
