"""Long-lived worker processes with hard limits, for CPU work whose input a user controls:
email templates (an admin's Jinja code), rule checks and explanations on pasted input.

A sandbox that counts operations can always be outrun by one operation it does not count
(a big-integer power, a string doubled with `~`, a loop with no call in it). The kernel's
limits cannot: each call runs in a worker process under

- CPU time: RLIMIT_CPU set to the CPU the worker used so far plus the call's budget (the
  kernel kills the worker with SIGXCPU), and a wall-clock watchdog here that kills it too;
- memory: RLIMIT_AS set to the worker's size plus the call's budget (MemoryError there);
- recursion: Python's own limit (RecursionError there, reported as such).

A call that hits a limit raises `LimitExceeded` naming it; its worker is killed and a new
one takes its place on the next call. Nothing runs in the caller's process as a fallback:
a failure is an answer. The event loop only waits on a thread that waits on the pipe.

One pipe per worker (not concurrent.futures.ProcessPoolExecutor, for the reason given in
scanning/parse_pool.py): killing a worker mid-answer is then an end-of-file for its one call.
"""
from __future__ import annotations

import asyncio
import enum
import importlib
import math
import multiprocessing
import os
import pickle
import queue
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = ["Limit", "LimitExceeded", "Limits", "WorkerFailed", "exit_with", "run_isolated",
           "shutdown", "worker_pids"]

T = TypeVar("T")
POOL_SIZE = 2          # concurrent isolated calls per process; more wait for a free worker
START_TIMEOUT_S = 60.0  # a new worker imports the project's modules before its first call
# Imported by each worker before it says it is ready, so that no call pays for imports
# inside its own time budget.
PRELOAD = ("mailscanner.outbound.render", "mailscanner.resolvers.rule_work",
           "mailscanner.mail.parsing")


class Limit(enum.Enum):
    TIME = "time"
    MEMORY = "memory"
    RECURSION = "recursion"
    OUTPUT = "output"


@dataclass(frozen=True)
class Limits:
    """What one call may use. `wall_s` is measured from the moment the worker has the call."""

    cpu_s: float = 2.0
    wall_s: float = 2.5
    memory_mb: int = 256


class LimitExceeded(Exception):
    """The call went past one of its limits (work may raise it too, e.g. for output size)."""

    def __init__(self, limit: Limit, message: str) -> None:
        super().__init__(limit, message)
        self.limit = limit
        self.message = message

    def __str__(self) -> str:
        return self.message


class WorkerFailed(Exception):
    """The worker could not be started, or died for a reason that is not a limit."""


_OK, _RAISED, _LIMIT = 0, 1, 2


def exit_with(pid: int) -> None:
    """Runs first in a worker process: when the process `pid` that owns it is gone (SIGKILL,
    the OOM killer), the worker exits too instead of waiting forever for work with its
    owner's files and pipes held open. (A forkserver worker's parent is the fork server, not
    its owner, so the parent-death signal would not fire.) Shared with scanning/parse_pool."""

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

    threading.Thread(target=watch, name="exit-with-owner", daemon=True).start()


def _vm_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _soft(wanted: int, hard: int) -> int:
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def _set_limits(cpu_s: float, memory_mb: int) -> None:
    """Limits relative to what this long-lived worker has used so far (RLIMIT_CPU counts
    the process's whole life; the soft limits only, so that the next call may raise them)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (_soft(math.ceil(used + cpu_s), cpu_hard), cpu_hard))
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    memory = _vm_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (_soft(memory, as_hard), as_hard))


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, Any]:
    try:
        return _OK, fn(*args)
    except MemoryError:
        return _LIMIT, (Limit.MEMORY.value, "")
    except RecursionError:
        return _LIMIT, (Limit.RECURSION.value, "")
    except LimitExceeded as exc:
        return _LIMIT, (exc.limit.value, exc.message)
    except Exception as exc:  # noqa: BLE001 — the caller gets it back as raised
        return _RAISED, exc


def _serve(conn: Connection, owner_pid: int, preload: Sequence[str]) -> None:
    """A worker's life: import, say ready, then one call at a time on its own pipe."""
    exit_with(owner_pid)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would dump core otherwise
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the owner to handle
    for name in preload:
        importlib.import_module(name)
    conn.send_bytes(b"ready")
    while True:
        try:
            fn, args, cpu_s, memory_mb = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        _set_limits(cpu_s, memory_mb)
        status, value = _run(fn, args)
        try:
            answer = pickle.dumps((status, value))
        except Exception as exc:  # noqa: BLE001 — an unpicklable exception or result
            answer = pickle.dumps((_RAISED, WorkerFailed(f"unpicklable answer: {exc!r}")))
        conn.send_bytes(answer)
        if status == _LIMIT:
            return  # memory may be fragmented or half-built: a fresh worker takes over


def _limit_message(limit: Limit, limits: Limits) -> str:
    return {
        Limit.TIME: f"the time limit ({limits.cpu_s:g} s of CPU time)",
        Limit.MEMORY: f"the memory limit ({limits.memory_mb} MB)",
        Limit.RECURSION: "the recursion limit (too deeply nested calls)",
        Limit.OUTPUT: "the output size limit",
    }[limit]


class _Worker:
    def __init__(self, preload: Sequence[str]) -> None:
        context = multiprocessing.get_context("forkserver")
        self.conn, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(theirs, os.getpid(), tuple(preload)),
            name="mailscanner-isolated", daemon=True)
        self.process.start()
        theirs.close()
        if not self.conn.poll(START_TIMEOUT_S):
            self.kill()
            raise WorkerFailed("an isolated worker process did not start in time")
        try:
            self.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            self.kill()
            raise WorkerFailed(f"an isolated worker process failed to start: {exc}") from exc

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> Any:
        self.conn.send_bytes(pickle.dumps((fn, args, limits.cpu_s, limits.memory_mb)))
        if not self.conn.poll(limits.wall_s):
            self.kill()
            raise LimitExceeded(Limit.TIME, _limit_message(Limit.TIME, limits))
        try:
            status, value = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self.kill()
            if self.process.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
                raise LimitExceeded(Limit.TIME, _limit_message(Limit.TIME, limits)) from None
            raise WorkerFailed(f"an isolated worker died (exit code "
                               f"{self.process.exitcode})") from exc
        if status == _OK:
            return value
        if status == _LIMIT:
            self.kill()
            limit = Limit(value[0])
            raise LimitExceeded(limit, value[1] or _limit_message(limit, limits))
        raise value

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        if not self.conn.closed:
            self.conn.close()

    @property
    def alive(self) -> bool:
        return not self.conn.closed and self.process.is_alive()


@dataclass
class _Slot:
    started: Future[_Worker] | None = None


class _Pool:
    """`size` slots, each with one worker; a call takes a free slot on one of `size` threads
    (the event loop waits on these threads, never on a pipe). A killed worker's replacement
    starts at once in the background, so the next call does not wait for it to import."""

    def __init__(self, size: int, preload: Sequence[str]) -> None:
        self.threads = ThreadPoolExecutor(size, thread_name_prefix="isolated")
        self.starter = ThreadPoolExecutor(1, thread_name_prefix="isolated-start")
        self.preload = tuple(preload)
        self.slots: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        for _ in range(size):
            self.slots.put(_Slot())
        self.lock = threading.Lock()
        self.workers: set[_Worker] = set()
        self.closed = False

    def _start(self) -> _Worker:
        with self.lock:  # multiprocessing's bookkeeping of children is not thread-safe
            if self.closed:
                raise WorkerFailed("the isolated worker processes were shut down")
            worker = _Worker(self.preload)
            self.workers.add(worker)
            return worker

    def _worker(self, slot: _Slot) -> _Worker:
        if slot.started is not None:
            try:
                worker = slot.started.result()
                if worker.alive:
                    return worker
                self._forget(worker)
            except WorkerFailed:
                pass
        slot.started = None
        worker = self._start()
        slot.started = _done(worker)
        return worker

    def _forget(self, worker: _Worker) -> None:
        with self.lock:
            self.workers.discard(worker)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], limits: Limits,
             queued_at: float) -> Any:
        # A call that waited for a free worker longer than it may run is refused rather
        # than run late: its caller (e.g. addComment) must not wait on others' renders.
        waited = time.monotonic() - queued_at
        if waited > limits.wall_s:
            raise WorkerFailed(f"every isolated worker was busy for {waited:.1f} s")
        slot = self.slots.get()  # never waits: as many slots as threads
        try:
            worker = self._worker(slot)
            try:
                return worker.call(fn, args, limits)
            finally:
                if not worker.alive:
                    self._forget(worker)
                    slot.started = None if self.closed else self.starter.submit(self._start)
        finally:
            self.slots.put(slot)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for worker in self.workers:
                worker.kill()
            self.workers.clear()
        self.threads.shutdown(wait=False)
        self.starter.shutdown(wait=False)


def _done(worker: _Worker) -> Future[_Worker]:
    future: Future[_Worker] = Future()
    future.set_result(worker)
    return future


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(POOL_SIZE, PRELOAD)
        return _pool


async def run_isolated(fn: Callable[..., T], *args: Any, limits: Limits) -> T:
    """`fn(*args)` in an isolated worker under `limits`; `fn` and the arguments are pickled
    (`fn` must be a module-level function). Raises `LimitExceeded` (naming the limit),
    `WorkerFailed` (also when every worker stayed busy for longer than `limits.wall_s`), or
    what `fn` raised. Cancelling the caller does not stop the call."""
    pool = _get()
    result: T = await asyncio.get_running_loop().run_in_executor(
        pool.threads, pool.call, fn, args, limits, time.monotonic())
    return result


def worker_pids() -> list[int]:
    """Process ids of the running isolated workers (for tests and measurements)."""
    if _pool is None:
        return []
    with _pool.lock:
        return [w.process.pid for w in _pool.workers if w.process.pid is not None and w.alive]


def shutdown() -> None:
    """Stop the workers (a later call starts new ones)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
