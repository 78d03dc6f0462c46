"""`mailscanner doctor`: the readiness checks (database, migrations, Redis) from the command
line, plus a connection test (connect, log in, list folders) of every active scanner.

Prints one line per problem (`database: unreachable: ...`, `scanner 3 "Support":
LOGIN_REJECTED: ...`) and exits 1, or prints one summary line and exits 0. Nothing is
changed: no migration is applied, no mail is read.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from .common import settings_or_exit

if TYPE_CHECKING:
    from ..ops.readiness import Problem
    from ..settings import Settings

SCANNER_CONCURRENCY = 8  # connection tests at a time: a mail server limits logins per IP


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check the database, migrations, Redis and every "
                                      "active scanner's mailbox connection")
    p.set_defaults(func=run)


async def _scanners() -> tuple[list[Problem], int]:
    from ..models import Scanner
    from ..ops.readiness import Problem
    from ..scanning.connect import test_connection

    scanners = await Scanner.filter(active=True).order_by("id")
    gate = asyncio.Semaphore(SCANNER_CONCURRENCY)

    async def one(scanner: Scanner) -> Problem | None:
        async with gate:
            report = await test_connection(scanner)
        if report.ok:
            return None
        code = report.error_code.value if report.error_code else "ERROR"
        return Problem(f'scanner {scanner.id} "{scanner.name}"',
                       f"{code}: {report.error_message}")

    found = await asyncio.gather(*(one(s) for s in scanners))
    return [p for p in found if p is not None], len(scanners)


async def diagnose(settings: Settings) -> tuple[list[Problem], str]:
    """(problems, summary of what passed)."""
    from ..db import close_db, init_db
    from ..ops.readiness import Problem, check, check_redis

    try:
        await init_db(settings)
    except Exception as exc:  # noqa: BLE001 — reported, like every other check
        problems = [Problem("database", f"cannot connect: {type(exc).__name__}: {exc}")]
        if settings.redis_url is not None:
            problems += await check_redis(settings.redis_url)
        return problems, ""
    try:
        problems = await check(settings)
        if any(p.part == "database" for p in problems):
            return problems, ""
        scanner_problems, count = await _scanners()
    finally:
        await close_db()
    parts = ["database", "migrations"] + (["redis"] if settings.redis_url else [])
    return problems + scanner_problems, f"ok: {', '.join(parts)}, {count} active scanner(s)"


def run(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    problems, summary = asyncio.run(diagnose(settings))
    for problem in problems:
        print(problem.line())
    if problems:
        print(f"mailscanner doctor: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(summary)
    return 0
