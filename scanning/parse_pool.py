"""Worker processes that parse fetched mail beside the scan's event loop.

Parsing, classifying, matching and decoding bodies are pure CPU work, about half of a
scan's Python time (measured with bench/scan_throughput.py), and the GIL keeps a thread
from running it beside the database work. Processes do: while the event loop commits one
batch, a worker prepares the next. Workers start on first use and live as long as the
process (a worker process or the API process in embedded mode); `processes=0`, or a
worker that died (e.g. killed by the OOM killer), runs the work in this process.

Not concurrent.futures.ProcessPoolExecutor: its workers share one result pipe whose
writing end the pool itself holds open, so a worker killed half-way through sending a
result leaves the pool reading the rest of that message forever, and every later batch
queues behind it. Here each worker has its own pipe and is its only other holder: a
worker's death is an end-of-file for the one call it had, which then runs here.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar

from ..isolated import exit_with

__all__ = ["WorkTimedOut", "WorkerDied", "run_in_pool", "shutdown", "worker_pids"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerDied(Exception):
    """The worker process ended before answering."""


class WorkTimedOut(Exception):
    """The call did not answer within its `timeout`; its worker was killed."""


class WorkFailed(Exception):
    """The work raised in the worker, or its result could not be pickled."""


def _serve(conn: Connection, scan_pid: int) -> None:
    """A worker's life: one call at a time, answered on its own pipe."""
    # Ctrl-C reaches the whole process group, but it is for the scan process, which then
    # finishes its batch with us; we exit with it (exit_with). SIGTERM stays deadly:
    # multiprocessing ends daemonic children with it when the scan process exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(scan_pid)
    while True:
        try:
            fn, args = pickle.loads(conn.recv_bytes())
        except EOFError:  # the scan process closed its end: no more work
            return
        try:
            answer = bytes(ForkingPickler.dumps((True, fn(*args))))
        except BaseException as exc:  # noqa: BLE001 — reported to the caller, who runs it
            answer = bytes(ForkingPickler.dumps((False, f"{type(exc).__name__}: {exc}")))
        conn.send_bytes(answer)


class _Worker:
    def __init__(self) -> None:
        # forkserver: workers are forked from a clean server process, never from this one
        # with its event loop, threads and open sockets.
        context = multiprocessing.get_context("forkserver")
        self.conn, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(theirs, os.getpid()), name="mailscanner-parse", daemon=True
        )
        self.process.start()
        theirs.close()  # the worker holds the only other end: its death is our EOF

    def call(self, fn: Callable[..., Any], args: tuple[object, ...],
             timeout: float | None = None) -> Any:
        try:
            self.conn.send_bytes(ForkingPickler.dumps((fn, args)))
            if timeout is not None and not self.conn.poll(timeout):
                raise WorkTimedOut(f"no answer within {timeout:g} s")
            ok, value = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError) as exc:  # OSError: end of file in mid-message
            raise WorkerDied(str(exc)) from exc
        if not ok:
            raise WorkFailed(value)
        return value

    def kill(self) -> None:
        # Only the process: a thread may be reading its pipe, and reads EOF now.
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class _Pool:
    """`size` threads, each owning one worker process that it starts on first use and
    replaces after the worker died."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.threads = ThreadPoolExecutor(size, thread_name_prefix="parse-pool")
        self.local = threading.local()
        self.lock = threading.Lock()
        self.workers: set[_Worker] = set()
        self.closed = False

    def call(self, fn: Callable[..., Any], args: tuple[object, ...],
             timeout: float | None = None) -> Any:
        worker: _Worker | None = getattr(self.local, "worker", None)
        if worker is None:
            with self.lock:  # multiprocessing's bookkeeping of children is not thread-safe
                if self.closed:
                    raise WorkerDied("the parse processes were shut down")
                worker = self.local.worker = _Worker()
                self.workers.add(worker)
        try:
            return worker.call(fn, args, timeout)
        except (WorkerDied, WorkTimedOut):
            self.local.worker = None
            with self.lock:
                self.workers.discard(worker)
                worker.kill()
            worker.conn.close()
            raise

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for worker in self.workers:
                worker.kill()
            self.workers.clear()
        # Calls still queued run here (in their callers) instead of being cancelled.
        self.threads.shutdown(wait=False)


_pool: _Pool | None = None


def _get(processes: int) -> _Pool | None:
    global _pool
    if processes <= 0:
        return None
    if _pool is None or _pool.size != processes:
        shutdown()
        _pool = _Pool(processes)
    return _pool


def worker_pids() -> list[int]:
    """Process ids of the running parse processes (for measurements)."""
    if _pool is None:
        return []
    with _pool.lock:
        return [w.process.pid for w in _pool.workers if w.process.pid is not None]


def shutdown() -> None:
    """Stop the worker processes (a later `run_in_pool` starts new ones)."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


async def run_in_pool(processes: int, fn: Callable[..., T], *args: object,
                      timeout: float | None = None, fallback: bool = True) -> T:
    """`fn(*args)` in a worker process (arguments and result are pickled), or here when
    `processes` is 0 or the worker failed: `fn` must not raise (report failure in its
    result), so that anything raised here is the pool's own trouble, never the work's.

    With `timeout` a worker that has not answered in time is killed (`WorkTimedOut`); with
    `fallback=False` nothing runs here: the pool's trouble is raised instead (work that may
    be hostile must never run on the caller's event loop)."""
    try:
        pool = _get(processes)
        if pool is not None:
            result: T = await asyncio.get_running_loop().run_in_executor(
                pool.threads, pool.call, fn, args, timeout
            )
            return result
    except WorkTimedOut:
        raise
    except WorkerDied as exc:
        if not fallback:
            raise
        logger.warning("a parse process died (%s); this batch is parsed in the scan process", exc)
    except Exception:  # noqa: BLE001 — cannot start processes, cannot pickle: work here
        if not fallback:
            raise
        logger.warning("parse processes failed; this batch is parsed here", exc_info=True)
    return fn(*args)
