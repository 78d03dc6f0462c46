"""The parse processes (scanning/parse_pool.py) are real processes: they must end with the
scan process that started them, even when it is killed without a chance to clean up."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailscanner.scanning.parse_pool import WorkerDied, WorkTimedOut, run_in_pool

CHILD = """
import asyncio, os, time
from mailscanner.scanning.parse_pool import WorkerDied, WorkTimedOut, run_in_pool

async def main():
    print(await run_in_pool(1, os.getpid), flush=True)
    time.sleep(120)

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not looked yet


async def test_work_runs_in_another_process_and_in_this_one_without_processes() -> None:
    assert await run_in_pool(1, os.getpid) != os.getpid()
    assert await run_in_pool(0, os.getpid) == os.getpid()


def _die_half_way_through_the_answer(scan_pid: int) -> str:
    """In a parse process: write the start of a long answer on each socket this process
    holds (its pipe to the scan process among them), then die as the OOM killer kills."""
    if os.getpid() == scan_pid:
        return "parsed in the scan process"
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack("!i", 1 << 20) + b"the first bytes of 1 MiB")
        except OSError:
            continue
    os.kill(os.getpid(), signal.SIGKILL)
    return "not reached"


async def test_a_parse_process_dying_mid_answer_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: a running parse process
    first = await run_in_pool(1, os.getpid)
    # when: it dies having sent part of its answer
    answer = run_in_pool(1, _die_half_way_through_the_answer, os.getpid())
    # then: the work is done here at once, and the next call gets a new parse process
    assert await asyncio.wait_for(answer, 30) == "parsed in the scan process"
    assert "a parse process died" in caplog.text
    second = await run_in_pool(1, os.getpid)
    assert second not in (first, os.getpid())


def test_parse_processes_exit_when_the_scan_process_is_killed() -> None:
    # given: a scan process whose parse process is up
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    assert worker != proc.pid and _running(worker)
    # when: the scan process is killed (as by the OOM killer)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # then: its parse process goes too, and with it the last holder of the child's stdout
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)
    assert proc.stdout.read() == b""  # EOF: no process keeps the pipe open
    proc.stdout.close()


async def test_a_call_past_its_timeout_kills_its_process_and_never_runs_here() -> None:
    # given: a running parse process
    first = await run_in_pool(1, os.getpid)
    # when: a call does not answer in time (as a mail stuck in one C call would)
    with pytest.raises(WorkTimedOut):
        await run_in_pool(1, time.sleep, 60, timeout=0.5)
    # then: that process is gone, and the next call gets a new one (not this process)
    assert not _running(first)
    second = await run_in_pool(1, os.getpid)
    assert second not in (first, os.getpid())


async def test_without_fallback_a_dead_process_is_reported_not_worked_around() -> None:
    with pytest.raises(WorkerDied):
        await run_in_pool(1, _die_half_way_through_the_answer, os.getpid(), fallback=False)
