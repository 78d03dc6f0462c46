from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise import Tortoise
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


def test_a_scanner_that_had_scan_from_starts_from_its_date_after_0006(
    tmp_path: Path, database_url: str
) -> None:
    """Migration 0006 replaces `scan_from` by `start_from`/`start_date`, keeping what a
    scanner had (and back again on downgrade); on the database the run uses."""
    if database_url == "sqlite":
        url = f"sqlite://{tmp_path / 'migrated.sqlite3'}"
    else:
        url = database_url.rpartition("/")[0] + f"/mailscanner_0006_{os.getpid()}"

    async def scenario() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        if database_url != "sqlite":
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}"')
            await admin.execute(f'CREATE DATABASE "{url.rpartition("/")[2]}"')
            await admin.close()
        await run_migrations(url, target="models.0002_lz4_text")
        await _sql(url, [
            "INSERT INTO ms_scanner (name, active, auth_type, host, protocol, encryption,"
            " validate_certificate, scan_type, username, scan_interval_minutes, scan_from,"
            " failure_count, created_at, updated_at) VALUES"
            f" ('{name}', false, 'password', 'imap.example.com', 'imap', 'ssl', true, 'unread',"
            f" 'u', 5, {scan_from}, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            for name, scan_from in (("dated", "'2026-03-04 05:06:07+00:00'"), ("plain", "NULL"))
        ])
        await run_migrations(url)
        after = await _sql(url, ["SELECT name, start_from, start_date FROM ms_scanner"])
        await run_migrations(url, target="models.0002_lz4_text")
        back = await _sql(url, ["SELECT name, scan_from FROM ms_scanner"])
        if database_url != "sqlite":
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE "{url.rpartition("/")[2]}" WITH (FORCE)')
            await admin.close()
        return after, back

    after, back = asyncio.run(scenario())
    assert sorted((n, f, str(d)) for n, f, d in after) == [
        ("dated", "date", "2026-03-04"),
        ("plain", "all", "None"),
    ]
    assert sorted((n, str(d)[:10]) for n, d in back) == [("dated", "2026-03-04"), ("plain", "None")]


async def _sql(url: str, statements: list[str]) -> list[tuple[Any, ...]]:
    """Run statements on `url` outside Tortoise; the last one's rows."""
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        conn = Tortoise.get_connection("default")
        rows: list[tuple[Any, ...]] = []
        for sql in statements:
            _, found = await conn.execute_query(sql)
            rows = [tuple(r.values()) if hasattr(r, "values") else tuple(r) for r in found]
        return rows
    finally:
        await Tortoise.close_connections()


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


def test_0007_moves_stored_attachment_bytes_to_the_blob_store_and_back(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows that held their bytes get a blob (identical files share one) and lose the
    column; a downgrade puts the bytes back in the rows."""
    monkeypatch.setenv("MAILSCANNER_ATTACHMENTS_DIR", str(tmp_path / "blobs"))
    if database_url == "sqlite":
        url = f"sqlite://{tmp_path / 'migrated.sqlite3'}"
    else:
        url = database_url.rpartition("/")[0] + f"/mailscanner_0007_{os.getpid()}"
    pdf, png = b"%PDF-1.4 " + bytes(range(256)), b"\x89PNG " + bytes(range(255, -1, -1))

    def literal(data: bytes) -> str:
        return f"X'{data.hex()}'" if database_url == "sqlite" else f"decode('{data.hex()}', 'hex')"

    async def scenario() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        if database_url != "sqlite":
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}"')
            await admin.execute(f'CREATE DATABASE "{url.rpartition("/")[2]}"')
            await admin.close()
        await run_migrations(url, target="models.0006_start_from")
        await _sql(url, [
            "INSERT INTO ms_ticket (number, title, description, status, priority, created_at,"
            " updated_at) VALUES ('TT1', 't', '', 'open', 'normal', '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')",
            *(
                "INSERT INTO ms_attachment (ticket_id, filename, content_type, size, sha256,"
                f" inline, content, created_at) VALUES (1, '{name}', 'x/y', 0, '', false,"
                f" {literal(data)}, '2026-01-01 00:00:00')"
                for name, data in (("a.pdf", pdf), ("b.png", png), ("copy.pdf", pdf))
            ),
        ])
        await run_migrations(url)
        after = await _sql(url, ["SELECT filename, storage, storage_key, sha256, size"
                                 " FROM ms_attachment ORDER BY id"])
        await run_migrations(url, target="models.0006_start_from")
        back = await _sql(url, ["SELECT filename, content FROM ms_attachment ORDER BY id"])
        if database_url != "sqlite":
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            await admin.execute(f'DROP DATABASE "{url.rpartition("/")[2]}" WITH (FORCE)')
            await admin.close()
        return after, back

    after, back = asyncio.run(scenario())
    keys = {"a.pdf": hashlib.sha256(pdf).hexdigest(), "b.png": hashlib.sha256(png).hexdigest()}
    assert after == [
        ("a.pdf", "local", keys["a.pdf"], keys["a.pdf"], len(pdf)),
        ("b.png", "local", keys["b.png"], keys["b.png"], len(png)),
        ("copy.pdf", "local", keys["a.pdf"], keys["a.pdf"], len(pdf)),
    ]
    blobs = sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    assert blobs == sorted(keys.values())  # one blob for the two copies of the PDF
    assert [(n, bytes(c)) for n, c in back] == [("a.pdf", pdf), ("b.png", png), ("copy.pdf", pdf)]
