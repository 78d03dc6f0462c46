"""Shared CLI plumbing: settings with one-line errors, and running async work with a database."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..settings import ConfigError, Settings, load_settings

T = TypeVar("T")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"mailscanner: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_with_db(settings: Settings, work: Callable[[], Awaitable[T]], *, migrate: bool = True) -> T:
    """Connect (applying migrations first on the embedded SQLite), run `work`, always close."""
    from ..db import close_db, init_db

    async def main() -> T:
        await init_db(settings, migrate=migrate and settings.is_sqlite)
        try:
            return await work()
        finally:
            await close_db()

    return asyncio.run(main())
