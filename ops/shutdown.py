"""The process-wide "stop taking work" flag that SIGTERM raises.

Flow of a graceful stop (`serve`, `worker`, `watch` alike):
  1. SIGTERM (or Ctrl-C) calls `request()`: no new job starts, watchers stop queueing;
  2. a running scan notices at its next batch boundary (`ShutdownRequested` from `check()`):
     the batch in hand is committed, its IMAP side effects done and its checkpoint
     written, then the run is left RUNNING and the scanner's lock released at once, so the
     job, put back in the queue, is resumed by the next worker without waiting for the lock
     to expire;
  3. connections close (IMAP sessions with their scan, SMTP pools and Redis in the
     process's own shutdown), and the process exits;
  4. whatever is still running after MAILSCANNER_SHUTDOWN_SECONDS is cancelled: a cancelled
     scan rolls back the batch in hand (read again later) and nothing is lost, only redone.
A crash at any step leaves what the scan pipeline's docstring describes: no log row (read
again) or a row with pending side effects (finished by the next scan).
"""
from __future__ import annotations

import asyncio
import logging
import time

from . import metrics

logger = logging.getLogger(__name__)
_requested: asyncio.Event | None = None
_loop: asyncio.AbstractEventLoop | None = None
_flag = False
_requested_at = 0.0


class ShutdownRequested(Exception):
    """Raised at a safe point of long work once the process was asked to stop."""


def request() -> None:
    """Ask this process to stop taking work (signal handlers call this; idempotent)."""
    global _flag, _requested_at
    if not _flag:
        logger.info("shutdown requested: finishing the work in hand")
        _requested_at = time.monotonic()
    _flag = True
    metrics.SHUTTING_DOWN.set(1)
    if _requested is not None and _loop is not None and not _loop.is_closed():
        # Thread-safe: uvicorn calls this from a plain signal handler, between bytecodes.
        _loop.call_soon_threadsafe(_requested.set)


def requested() -> bool:
    return _flag


def remaining(budget: float) -> float:
    """Seconds left of a `budget` counted from the request (all of it before one)."""
    if not _flag:
        return budget
    return max(0.0, budget - (time.monotonic() - _requested_at))


def check() -> None:
    """Raise ShutdownRequested if the process is stopping (call between units of work)."""
    if _flag:
        raise ShutdownRequested()


async def wait() -> None:
    """Return once a shutdown was requested."""
    global _requested, _loop
    if _requested is None or _loop is not asyncio.get_running_loop():
        _requested, _loop = asyncio.Event(), asyncio.get_running_loop()
    if _flag:
        return
    await _requested.wait()


def reset() -> None:
    """Forget a request (tests; a process stops only once)."""
    global _flag, _requested, _loop
    _flag = False
    _requested = _loop = None
    metrics.SHUTTING_DOWN.set(0)
