"""Shared fixtures: settings in a temp data dir and a real database per test.

The database comes from MAILSCANNER_TEST_DB: `sqlite` (a fresh file per test) or
`postgres` (the machine's PostgreSQL; one database per test session, built by the real
migrations, truncated between tests). A missing PostgreSQL fails the run; it never
falls back to SQLite.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise

from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.settings import Settings, load_settings

# Fixture modules shared by the whole suite. The repository root is itself a package, so
# tests are imported as `<repo>.tests.*`; relative imports keep that working in any clone.
from .fixtures.dovecot import *  # noqa: E402,F401,F403
from .fixtures.gmail_proxy import *  # noqa: E402,F401,F403
from .fixtures.google import *  # noqa: E402,F401,F403
from .fixtures.microsoft import *  # noqa: E402,F401,F403
from .fixtures.smtp import *  # noqa: E402,F401,F403

TEST_DB = os.environ.get("MAILSCANNER_TEST_DB", "sqlite")
PG_ADMIN_DSN = os.environ.get("MAILSCANNER_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
PG_DB_NAME = f"mailscanner_test_{os.getpid()}"


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if TEST_DB == "sqlite":
        yield "sqlite"  # per-test file, see `settings`
        return
    if TEST_DB != "postgres":
        raise RuntimeError(f"MAILSCANNER_TEST_DB must be sqlite or postgres, not {TEST_DB!r}")

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB_NAME}"')
            await conn.execute(f'CREATE DATABASE "{PG_DB_NAME}"')
        finally:
            await conn.close()
        await run_migrations(_pg_url(PG_DB_NAME))

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB_NAME}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.exit(
            f"PostgreSQL at {PG_ADMIN_DSN} is required (MAILSCANNER_TEST_DB=postgres): {exc}",
            returncode=3,
        )
    yield _pg_url(PG_DB_NAME)
    asyncio.run(drop())


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    url = f"sqlite://{tmp_path / 'test.sqlite3'}" if database_url == "sqlite" else database_url
    env = {
        "MAILSCANNER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
        "MAILSCANNER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "MAILSCANNER_PUBLIC_URL": "http://127.0.0.1:8000",
        "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test",
    }
    return load_settings(env)


async def _truncate_all() -> None:
    conn = Tortoise.get_connection("default")
    tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
    await conn.execute_script(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Settings]:
    """A connected, empty database (schema from models on SQLite, migrations on PostgreSQL)."""
    await init_db(settings, generate=settings.is_sqlite)
    if not settings.is_sqlite:
        await _truncate_all()
    try:
        yield settings
    finally:
        await close_db()
