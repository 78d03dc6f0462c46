"""`mailscanner scan SCANNER --dry-run`: what a scan would do now, printed as a table."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..scanning.dry_run_report import DryRunReport, MessagePreview
    from ..settings import Settings


def _what(m: MessagePreview) -> str:
    lines = []
    if m.outcome == "no_match":
        lines.append("no rule matches")
    if m.skipped_reason:
        lines.append(m.skipped_reason)
    lines += [a.description for a in m.actions]
    if m.mark_read:
        lines.append("mark read")
    if m.already_processed:
        lines.append("(processed before: the scan will not read it again)")
    elif not m.would_scan:
        lines.append("(the next scan does not read it)")
    return "\n".join(lines)


def render(report: DryRunReport, console: Any) -> None:
    """Print the report as a rich table, one row per message."""
    from rich.table import Table

    table = Table(
        title=(
            f"Dry run of {report.folder}: {report.folder_messages:,} message(s), "
            f"{report.next_scan:,} for the next scan; nothing was changed"
        ),
        show_lines=True,
    )
    for name in ("uid", "arrived", "from", "subject", "kind", "rule", "the scan would"):
        table.add_column(name, overflow="fold")
    for m in report.messages:
        table.add_row(
            str(m.uid),
            m.arrived.strftime("%Y-%m-%d %H:%M") if m.arrived else "",
            m.sender,
            m.subject,
            m.kind,
            m.matched_rule.name if m.matched_rule else "",
            _what(m),
        )
    console.print(table)
    for note in report.notes:
        console.print(note)


async def dry_run_command(
    ref: str, folder: str | None, limit: int, next_scan: bool, settings: Settings
) -> int:
    """Run the dry run with the database connected; returns the exit code."""
    from rich.console import Console

    from ..scanning.dry_run import DryRunError, DryRunOptions, dry_run
    from ..transport.errors import MailError
    from .scan import _find_scanner

    scanner = await _find_scanner(ref)
    if scanner is None:
        print(f"mailscanner: no scanner named or numbered {ref!r}", file=sys.stderr)
        return 2
    options = DryRunOptions(folder, limit, "next_scan" if next_scan else "newest")
    try:
        report = await dry_run(scanner, options, settings)
    except DryRunError as exc:
        print(f"mailscanner: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    except MailError as exc:
        print(f"mailscanner: {exc.message}", file=sys.stderr)
        return 1
    # Piped into a file or another program, the lines need not fit a terminal.
    render(report, Console(width=None if sys.stdout.isatty() else 200))
    return 0
