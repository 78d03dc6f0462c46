"""Worker processes that parse fetched mail beside the scan's event loop.

Parsing, classifying, matching and decoding bodies are pure CPU work, about half of a
scan's Python time (measured with bench/scan_throughput.py), and the GIL keeps a thread
from running it beside the database work. Processes do: while the event loop commits one
batch, a worker prepares the next. The pool is created on first use and lives as long as
the process (a worker process or the API process in embedded mode); `processes=0` (or a
pool that broke, e.g. a worker killed by the OOM killer) runs the work in this process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

__all__ = ["run_in_pool", "shutdown", "worker_pids"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_size = 0


def _exit_with(pid: int) -> None:
    """Runs first in each worker: when the scan process `pid` is gone (SIGKILL, the OOM
    killer), the worker exits too instead of waiting forever on its task queue with the
    scan's files and pipes held open. (Its parent is the fork server, not the scan process,
    so the parent-death signal would not fire.)"""

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)  # readable once the process has exited
        except (AttributeError, OSError):  # not Linux >= 5.3: poll instead
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    os._exit(0)
                except PermissionError:
                    pass
                time.sleep(1.0)
        select.select([fd], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-scan-process", daemon=True).start()


def _get(processes: int) -> ProcessPoolExecutor | None:
    global _pool, _size
    if processes <= 0:
        return None
    if _pool is None or _size != processes:
        shutdown()
        # forkserver: workers are forked from a clean server process, never from this one
        # with its event loop, threads and open sockets.
        context = multiprocessing.get_context("forkserver")
        _pool = ProcessPoolExecutor(
            processes, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
        )
        _size = processes
    return _pool


def worker_pids() -> list[int]:
    """Process ids of the running parse processes (for measurements)."""
    return list(_pool._processes or {}) if _pool is not None else []


def shutdown() -> None:
    """Stop the worker processes (a later `run_in_pool` starts new ones)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


async def run_in_pool(processes: int, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in a worker process (arguments and result are pickled), or here when
    `processes` is 0 or the pool failed: `fn` must not raise (report failure in its
    result), so that anything raised here is the pool's own trouble, never the work's."""
    try:
        pool = _get(processes)
        if pool is not None:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    except BrokenProcessPool:
        logger.warning("a parse process died; this batch is parsed in the scan process")
        if _pool is pool:  # not a new pool another batch started meanwhile
            shutdown()
    except Exception:  # noqa: BLE001 — cannot start processes, cannot pickle: work here
        logger.warning("parse processes failed; this batch is parsed here", exc_info=True)
    return fn(*args)
