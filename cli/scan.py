"""`mailscanner scan SCANNER`: run one scan in the foreground with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from .common import run_with_db, settings_or_exit

if TYPE_CHECKING:
    from ..settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``scan`` subcommand to the ``mailscanner`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan", help="scan one mailbox now (in the foreground) and print what it did"
    )
    parser.add_argument("scanner", metavar="SCANNER", help="scanner id or name")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS",
        help="if the mailbox is being scanned right now, wait up to this long for that scan "
        "to end instead of exiting at once (at most 86400)",
    )
    dry = parser.add_argument_group("dry run (reads the mailbox, changes nothing)")
    dry.add_argument(
        "--dry-run", action="store_true", help="show what a scan would do, message by message"
    )
    dry.add_argument(
        "--limit", type=int, default=50, metavar="N", help="messages to look at (1-500)"
    )
    dry.add_argument("--folder", metavar="F", help="folder (default: the rules' first)")
    dry.add_argument(
        "--next", action="store_true", help="the messages the next scan reads, not the newest"
    )
    parser.set_defaults(func=run)


async def _find_scanner(ref: str) -> Any:
    from ..models import Scanner

    scanner = await Scanner.get_or_none(name=ref)
    if scanner is None and ref.isdigit():
        scanner = await Scanner.get_or_none(id=int(ref))
    return scanner


async def _follow(channel: str, bar: Any, task: Any, ready: asyncio.Event) -> None:
    from .. import events

    stream = events.subscribe(channel)
    next_event = asyncio.ensure_future(stream.__anext__())
    ready.set()
    try:
        while True:
            event = await next_event
            bar.update(task, completed=event["processed"], total=max(event["total"], 1))
            next_event = asyncio.ensure_future(stream.__anext__())
    finally:
        next_event.cancel()
        with contextlib.suppress(BaseException):
            await next_event
        await stream.aclose()  # type: ignore[attr-defined]


async def _scan_with_progress(scanner: Any, console: Any, quiet: bool, settings: Settings) -> Any:
    """Run the scan while a rich progress bar follows the run's progress events."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..events import scan_run_channel
    from ..models import ScanRun
    from ..scanning.pipeline import run_scan

    run = await ScanRun.create(scanner=scanner, trigger="cli")
    columns = (
        TextColumn(f"scanning {scanner.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=quiet, transient=True) as bar:
        task = bar.add_task("scan", total=None)
        ready = asyncio.Event()
        follower = asyncio.ensure_future(_follow(scan_run_channel(run.id), bar, task, ready))
        await ready.wait()
        try:
            run = await run_scan(scanner.id, run.id, trigger="cli", settings=settings)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    return run


WAIT_POLL_SECONDS = 1.0
MAX_WAIT_SECONDS = 86400.0


async def scan_command(ref: str, quiet: bool, settings: Settings, wait: float = 0) -> int:
    """Run the scan with the database connected; returns the exit code. `wait`: seconds to
    wait for a scan of the mailbox that is running elsewhere (0: report it, exit 1)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
    while True:
        code = await _scan_once(ref, quiet, settings, last_try=loop.time() >= deadline)
        if code is not None:
            return code
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def _scan_once(ref: str, quiet: bool, settings: Settings, last_try: bool) -> int | None:
    """One attempt; None when the mailbox is busy and the caller may still wait."""
    from rich.console import Console
    from rich.table import Table

    from ..models import ScanRunStatus
    from ..workers.lock import LockBusy, LockLost
    from ..workers.scan import abandon_orphans, scanner_lock

    console = Console(stderr=quiet)
    scanner = await _find_scanner(ref)
    if scanner is None:
        print(f"mailscanner: no scanner named or numbered {ref!r}", file=sys.stderr)
        return 2
    try:
        # The one scan lock (a database lease): no other scan of this mailbox, in any process.
        async with scanner_lock(scanner.id):
            # Holding it, a RUNNING run is one whose process died: end it before starting.
            for run_id in await abandon_orphans(scanner.id):
                print(f"mailscanner: run {run_id} had been abandoned by its process; "
                      "marked failed", file=sys.stderr)
            run = await _scan_with_progress(scanner, console, quiet, settings)
    except LockBusy:
        if not last_try:
            return None
        print(await _busy_message(scanner), file=sys.stderr)
        return 1
    except LockLost:
        print(f"mailscanner: the scan lock of {scanner.name} was lost (this process stalled "
              "past its lease); another scan took over and finishes the work", file=sys.stderr)
        return 1
    table = Table(title=f"Scan {run.id} of {scanner.name}: {run.status.label}")
    table.add_column("count")
    table.add_column("value", justify="right")
    for name, value in run.counts.items():
        table.add_row(name.replace("_", " "), str(value))
    Console().print(table)
    for warning in run.warnings or []:  # e.g. a rule's folder is gone: fix it, scanning went on
        print(f"mailscanner: warning: {warning.get('message', '')}", file=sys.stderr)
    if run.status != ScanRunStatus.SUCCEEDED:
        print(f"mailscanner: scan failed: {run.error}", file=sys.stderr)
        return 1
    return 0


async def _busy_message(scanner: Any) -> str:
    """Who scans the mailbox instead: the running run and the lease holder's host and pid."""
    from ..models import ScanRun, ScanRunStatus
    from ..workers.scan import scan_holder

    holder = await scan_holder(scanner.id)
    running = await ScanRun.filter(scanner_id=scanner.id, status=ScanRunStatus.RUNNING).first()
    what = f"run {running.id} ({running.trigger})" if running is not None else "a scan"
    who = ""
    if holder:
        host, _, rest = holder.partition(":")
        who = f" by process {rest.partition(':')[0]} on {host}"
    return (f"mailscanner: {scanner.name} is being scanned right now: {what}{who}. "
            "Nothing was done; run the command again when it has finished (or with --wait).")


def run(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    if args.dry_run:
        from .dry_run import dry_run_command

        return run_with_db(
            settings,
            lambda: dry_run_command(args.scanner, args.folder, args.limit, args.next, settings),
        )
    if not 0 <= args.wait <= MAX_WAIT_SECONDS:
        print("mailscanner scan: --wait must be between 0 and 86400 seconds", file=sys.stderr)
        return 2
    return run_with_db(
        settings, lambda: scan_command(args.scanner, args.quiet, settings, args.wait)
    )
