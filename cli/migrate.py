"""`mailscanner migrate [--to APP.MIGRATION]`: apply (or roll back to) versioned migrations."""
from __future__ import annotations

import argparse
import asyncio
import sys

from .common import settings_or_exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("--to", metavar="MIGRATION", default=None,
                   help="move to this migration, e.g. models.0001_initial (rolls back newer ones)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..db import run_migrations
    settings = settings_or_exit()
    try:
        asyncio.run(run_migrations(settings.database_url, target=args.to))
    except (OSError, ValueError) as exc:
        print(f"mailscanner migrate: {exc}", file=sys.stderr)
        return 2
    print(f"database is up to date ({settings.database_url.split('://')[0]})")
    return 0
