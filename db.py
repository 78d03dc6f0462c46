"""Database wiring: the Tortoise config, init/close, and migrations.

Tortoise 1.x keeps its state in a contextvar; `_enable_global_fallback=True` makes the
connection visible to every task (Starlette requests, arq jobs), which is what a
one-database service wants.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from . import crypto, postgres_fix, sqlite_fix
from .settings import Settings, load_settings

MODELS_MODULE = "mailscanner.models"
MIGRATIONS_MODULE = "mailscanner.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `tortoise -c mailscanner.db.TORTOISE_ORM makemigrations` reads the config from here.
    if name == "TORTOISE_ORM":
        return tortoise_config(load_settings().database_url)
    raise AttributeError(name)


def create_private_sqlite_file(database_url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would use the umask, often
    0644: mailbox passwords are encrypted but tickets and mail are not). SQLite gives its
    -wal, -shm and -journal files the database file's permissions. A no-op for PostgreSQL,
    for an existing file and for in-memory databases."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url[len("sqlite://"):].partition("?")[0]
    if not path or path == ":memory:":
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def init_db(settings: Settings, *, migrate: bool = False, generate: bool = False) -> None:
    """Connect (process-wide), configure secret encryption, and optionally build the schema."""
    crypto.configure(settings.secret_key)
    create_private_sqlite_file(settings.database_url)
    sqlite_fix.install()
    postgres_fix.install()
    # The executor cache is keyed by connection name, not dialect (stack-notes §2).
    EXECUTOR_CACHE.clear()
    if migrate:
        await run_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    if generate:
        await Tortoise.generate_schemas(safe=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def run_migrations(database_url: str, target: str | None = None) -> None:
    """Apply (or with `target`, move to) versioned migrations from mailscanner/migrations."""
    from tortoise.migrations.api import migrate

    create_private_sqlite_file(database_url)
    try:
        await migrate(config=tortoise_config(database_url), target=target)
    finally:
        # An open aiosqlite connection keeps the process alive after asyncio.run() returns.
        await Tortoise.close_connections()


_ANALYZED: set[tuple[str, str]] = set()  # (database, table) known to have statistics


async def analyze_if_never_analyzed(tables: list[str]) -> list[str]:
    """ANALYZE those of `tables` PostgreSQL has no statistics for yet and that hold rows
    (an empty table gives empty statistics); returns them. Cheap once all have statistics.

    Without statistics the planner guesses: a first scan into a new database wrote its first
    thousands of rows before autovacuum (once a minute) looked at the tables, and meanwhile
    lookups such as `source_message_id IN (...)` read whole tables per batch. PostgreSQL's
    own advice after a bulk load into a new table is exactly this ANALYZE. A no-op on other
    databases."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return []
    database = "{}:{}/{}".format(*(getattr(conn, a, "") for a in ("host", "port", "database")))
    todo = [t for t in tables if (database, t) not in _ANALYZED]
    if not todo:
        return []
    rows = await conn.execute_query_dict(
        "SELECT relname, last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL AS done"
        " FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
        [todo],
    )
    names = []
    for row in rows:
        name = str(row["relname"])
        if row["done"]:
            _ANALYZED.add((database, name))
            continue
        found = await conn.execute_query_dict(f'SELECT EXISTS (SELECT 1 FROM "{name}") AS x')
        if found[0]["x"]:
            names.append(name)
    if names:
        await conn.execute_script("ANALYZE " + ", ".join(f'"{n}"' for n in names))
        _ANALYZED.update((database, n) for n in names)
    return names
