"""/readyz and `mailscanner doctor` against real parts: PostgreSQL behind a proxy that the
test takes away and brings back, a database without migrations, a Redis that is not there,
a scanner whose password is wrong (real Dovecot)."""
# Fixtures imported from tests/workers are parameters of the tests below (F811 by design).
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.db import close_db, init_db
from mailscanner.settings import Settings, load_settings

from ..conftest import PG_ADMIN_DSN, _pg_url
from ..fixtures.dovecot import ImapUser
from ..scanning.helpers import make_scanner
from ..workers.cluster import shared_database_url, shared_db, wait_until  # noqa: F401
from ..workers.fixtures import REDIS_URL
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration
CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _settings(tmp_path: Path, database_url: str, **env: str) -> Settings:
    return load_settings({
        "MAILSCANNER_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url,
        "MAILSCANNER_SECRET_KEY": "test-secret-key-0123456789abcdef", **env})


async def _readyz(settings: Settings) -> httpx2.Response:
    app = create_app(settings, start_services=False)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        return await client.get("/readyz")


@pytest.fixture
async def proxied(shared_database_url: str, tmp_path: Path) -> AsyncIterator[
        tuple[Settings, TcpProxy]]:
    """Settings whose PostgreSQL is reached through a proxy the test controls."""
    url = urlsplit(shared_database_url)
    proxy = TcpProxy(url.port or 5432)
    await proxy.start()
    proxied_url = url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}").geturl()
    settings = _settings(tmp_path, proxied_url)
    await init_db(settings)
    try:
        yield settings, proxy
    finally:
        await proxy.stop()
        await close_db()


@pytest.mark.postgres_only
async def test_readyz_answers_503_naming_the_database_while_postgresql_is_unreachable(
    proxied: tuple[Settings, TcpProxy]
) -> None:
    settings, proxy = proxied
    # given a ready API
    ready = await _readyz(settings)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    # when PostgreSQL becomes unreachable (connections cut, new ones refused)
    await proxy.stop()
    # then /readyz answers 503 and names the database, and only the database
    down = await _readyz(settings)
    assert down.status_code == 503, down.text
    body = down.json()
    assert body["status"] == "unavailable" and list(body["failing"]) == ["database"]
    assert body["failing"]["database"].startswith("unreachable")
    # and /healthz, the liveness check, still answers: the process is alive
    app = create_app(settings, start_services=False)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        assert (await client.get("/healthz")).status_code == 200
    # when PostgreSQL is back, /readyz is 200 again (the pool reconnects by itself)
    await proxy.start()

    async def ready_again() -> bool:
        return (await _readyz(settings)).status_code == 200

    await wait_until(ready_again, "/readyz to answer 200 after PostgreSQL came back", limit=30)


@pytest.mark.postgres_only
async def test_readyz_names_missing_migrations_and_an_unreachable_redis(
    tmp_path: Path
) -> None:
    # given an empty database that was never migrated, and a Redis that is not there
    name = f"mailscanner_unmigrated_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        settings = _settings(tmp_path, _pg_url(name), REDIS_URL=CLOSED_REDIS)
        await init_db(settings)
        try:
            # when /readyz is asked
            response = await _readyz(settings)
        finally:
            await close_db()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    # then both parts are named, and what to do about the migrations
    assert response.status_code == 503
    failing = response.json()["failing"]
    assert sorted(failing) == ["migrations", "redis"]
    assert "mailscanner migrate" in failing["migrations"]
    assert failing["redis"].startswith("unreachable")


async def test_readyz_is_200_on_a_migrated_database_with_redis(tmp_path: Path,
                                                              database_url: str) -> None:
    # given the embedded SQLite (migrated at start) or the test's PostgreSQL, and Redis
    url = f"sqlite://{tmp_path / 'ready.sqlite3'}" if database_url == "sqlite" else database_url
    settings = _settings(tmp_path, url, REDIS_URL=REDIS_URL)
    await init_db(settings, migrate=True)
    try:
        response = await _readyz(settings)
    finally:
        await close_db()
    assert response.status_code == 200, response.text


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "mailscanner", "doctor"], env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.postgres_only
async def test_doctor_prints_one_line_per_problem_and_exits_non_zero(
    shared_db: Settings, imap_user: ImapUser
) -> None:
    # given one scanner that works and one whose password is wrong, both active
    good = await make_scanner(imap_user)
    bad = await make_scanner(imap_user, password="wrong-password-5c4b3a")
    env = {"DATABASE_URL": shared_db.database_url, "MAILSCANNER_SECRET_KEY": shared_db.secret_key,
           "MAILSCANNER_DATA_DIR": str(shared_db.data_dir)}
    # when the doctor runs with Redis unreachable
    result = await asyncio.to_thread(_doctor, {**env, "REDIS_URL": CLOSED_REDIS})
    # then one line per problem: Redis and the bad scanner (not the good one), exit 1
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis: unreachable")
    assert lines[1].startswith(f'scanner {bad.id} "{bad.name}": LOGIN_REJECTED: ')
    assert "wrong-password-5c4b3a" not in result.stdout + result.stderr
    # when the bad scanner is deactivated and Redis is there, everything passes
    await type(bad).filter(id=bad.id).update(active=False)
    ok = await asyncio.to_thread(_doctor, {**env, "REDIS_URL": REDIS_URL})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == "ok: database, migrations, redis, 1 active scanner(s)"
    assert good.id  # the good scanner was tested and passed
