"""The per-message processing budget: parsing, classifying and matching one mail may take
at most `ScanConfig.message_budget_s` seconds of CPU (MAILSCANNER_MESSAGE_BUDGET_SECONDS).

That work runs in a parse process (parse_pool.py), where it can be stopped: a CPU-time
timer (ITIMER_PROF) interrupts the message that overruns, between two Python operations,
and the parse process goes on with the next one. A message stuck inside one long C call
is stopped by the scan process instead, which kills the parse process after a generous
deadline and retries the batch one message at a time (batch_prepare.py).

A message past its budget is quarantined with a reason starting "TIMEOUT": it stays
unread on the server, its raw bytes are kept for a retry, and the scan goes on.
"""
from __future__ import annotations

import multiprocessing
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ..mail.parsing import parse_email
from .context import ScanConfig
from .process import Unlogged, _row, quarantine_row

__all__ = ["MessageTimeout", "cpu_budget", "crash_reason", "deadline_for", "timed_out",
           "timeout_reason"]

TIMEOUT = "TIMEOUT"
HEADERS_BUDGET_S = 1.0  # to read subject and sender for the log row of a timed-out mail


class MessageTimeout(BaseException):
    """Raised by the CPU timer. A BaseException: the parser's many `except Exception`
    (which keep a broken part from failing the whole mail) must not swallow it."""


def _can_arm() -> bool:
    # Only in a parse process's main thread: there the timer's signal interrupts nothing
    # but this message. In the scan process it would interrupt the event loop anywhere.
    return (multiprocessing.parent_process() is not None
            and threading.current_thread() is threading.main_thread())


def _expire(signum: int, frame: FrameType | None) -> None:
    raise MessageTimeout


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise `MessageTimeout` in the block after `seconds` of CPU time (no-op outside a
    parse process)."""
    if not _can_arm() or seconds <= 0:
        yield
        return
    previous = signal.signal(signal.SIGPROF, _expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def timeout_reason(budget_s: float) -> str:
    return (f"{TIMEOUT}: reading this message took more than {budget_s:g} s of CPU "
            "(MAILSCANNER_MESSAGE_BUDGET_SECONDS); it was left unread and kept for a retry")


def deadline_for(messages: int, budget_s: float) -> float:
    """Wall-clock seconds after which the scan process kills a parse process working on
    `messages` mails: each has its CPU timer, so this only stops one stuck in a C call;
    generous, as a loaded machine gives less than a second of CPU per second."""
    return messages * budget_s * 2 + 10.0


def crash_reason(detail: str) -> str:
    return (f"CRASHED: the parse process died reading this message ({detail}); it was left "
            "unread and kept for a retry")


def timed_out(config: ScanConfig, folder: str, uidvalidity: int, uid: int, raw: bytes,
              run_id: int | None, server_id: str | None, reason: str | None = None) -> Unlogged:
    """The quarantine log row of a message past its budget (or that `reason` says); its
    subject and sender when the headers can be read quickly."""
    email = None
    try:
        with cpu_budget(HEADERS_BUDGET_S):
            email = parse_email(raw)
            _ = (email.subject, email.from_, email.message_id)
    except (MessageTimeout, Exception):  # noqa: BLE001 — the row is written without them
        email = None
    fields = _row(config, email, folder, uidvalidity, uid, run_id, server_id)
    reason = reason or timeout_reason(config.message_budget_s)
    return Unlogged(uid, quarantine_row(fields, raw, reason),
                    Counter(errors=1))
