"""The parse processes (scanning/parse_pool.py) are real processes: they must end with the
scan process that started them, even when it is killed without a chance to clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailscanner.scanning.parse_pool import run_in_pool

CHILD = """
import asyncio, os, time
from mailscanner.scanning.parse_pool import run_in_pool

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
