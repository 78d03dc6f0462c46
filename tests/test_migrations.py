from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from mailscanner.db import run_migrations, tortoise_config

from .conftest import PG_ADMIN_DSN

MAKE = "tortoise -c mailscanner.db.TORTOISE_ORM makemigrations"


def test_the_migrations_describe_the_models_exactly() -> None:
    async def pending() -> list[str]:
        config = tortoise_config("sqlite://:memory:")
        async with tortoise_cli_context(config) as ctx:
            assert ctx.apps is not None
            writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        return [f"{w.app_label}.{w.name}" for w in writers]

    assert asyncio.run(pending()) == [], f"models changed without a migration; run: {MAKE}"


async def _upgrade_keeps_microsoft_accounts(url: str, execute: Any, indexes_sql: str) -> None:
    """Migrate to 0002, store an authorized Microsoft account and a scanner using it (the
    schema of that release), then upgrade: the account, its tokens, the link and the
    scanner's history survive."""
    await run_migrations(url, target="models.0002_lz4_text")
    await execute(
        "INSERT INTO ms_microsoft_account (id, email, home_account_id, token_cache_encrypted,"
        " status, created_at, updated_at) VALUES (7, 'alice@contoso.example', 'uid.utid',"
        " 'encrypted-cache', 'ok', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    await execute(
        "INSERT INTO ms_scanner (name, active, auth_type, host, protocol, encryption,"
        " validate_certificate, scan_type, username, mailbox_name, oauth_account_id,"
        " scan_interval_minutes, failure_count, created_at, updated_at) VALUES ('support',"
        " false, 'microsoft_oauth', 'outlook.office365.com', 'imap', 'ssl', true, 'unread', '',"
        " 'support@contoso.example', 7, 5, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    await execute(
        "INSERT INTO ms_scan_run (scanner_id, status, trigger, queued_at, counts, processed,"
        " total) SELECT id, 'succeeded', 'manual', CURRENT_TIMESTAMP, '{}', 0, 0 FROM ms_scanner")
    await run_migrations(url)
    # a table rebuild of ms_scanner (SQLite's way to alter a column) would cascade to its runs
    assert [tuple(r) for r in await execute("SELECT count(*) FROM ms_scan_run")] == [(1,)]
    rows = await execute(
        "SELECT a.provider, a.email, a.subject, a.token_data_encrypted, s.microsoft_auth"
        " FROM ms_scanner s JOIN ms_oauth_account a ON a.id = s.oauth_account_id")
    assert [tuple(r) for r in rows] == [
        ("microsoft", "alice@contoso.example", "uid.utid", "encrypted-cache", "delegated")]
    # the cross-folder lookup of a scan is indexed (Tortoise's AddField does not index)
    assert [tuple(r) for r in await execute(indexes_sql)] == [
        ("idx_ms_message__server__fa9b93",)]


async def test_the_upgrade_keeps_authorized_microsoft_accounts_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"

    async def execute(sql: str) -> list[Any]:
        with sqlite3.connect(path) as conn:
            return conn.execute(sql.replace(" false,", " 0,").replace(" true,", " 1,")).fetchall()

    await _upgrade_keeps_microsoft_accounts(
        f"sqlite://{path}", execute,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ms_message_log'"
        " AND sql LIKE '%server_message_id%'")


async def test_the_upgrade_keeps_authorized_microsoft_accounts_on_postgresql() -> None:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    name = f"mailscanner_upgrade_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')

        async def execute(sql: str) -> list[Any]:
            conn = await asyncpg.connect(f"{base}/{name}")
            try:
                return list(await conn.fetch(sql))
            finally:
                await conn.close()

        await _upgrade_keeps_microsoft_accounts(
            f"{base}/{name}", execute,
            "SELECT indexname FROM pg_indexes WHERE tablename = 'ms_message_log'"
            " AND indexdef LIKE '%server_message_id%'")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
