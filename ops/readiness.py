"""Is this process able to do its work? The checks behind `/readyz` and `mailscanner doctor`.

`/healthz` stays a liveness check (the process answers); readiness asks the parts it needs:
1. database: a `SELECT 1` within `TIMEOUT` seconds;
2. migrations: every migration shipped with this release is applied (a release started
   against an old schema fails on its first write; `mailscanner migrate` fixes it);
3. Redis, when REDIS_URL is set: a PING within `TIMEOUT` seconds.
Each failing part gives one `Problem` naming it, with a message fit for a log line and for
the 503 answer (no passwords: URLs are never quoted).
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

TIMEOUT = 3.0
_MIGRATION_FILE = re.compile(r"^(\d{4}_\w+)\.py$")


@dataclass(frozen=True)
class Problem:
    part: str  # database | migrations | redis | scanner <id>
    message: str

    def line(self) -> str:
        return f"{self.part}: {self.message}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def shipped_migrations() -> list[str]:
    """Names of the migrations in this release (the `migrations` package's files)."""
    folder = Path(__file__).resolve().parent.parent / "migrations"
    return sorted(m.group(1) for p in folder.iterdir() if (m := _MIGRATION_FILE.match(p.name)))


async def _applied_migrations() -> set[str]:
    from tortoise import connections

    conn = connections.get("default")
    _, rows = await conn.execute_query(
        "SELECT name FROM tortoise_migrations WHERE app = 'models'")
    return {str(row["name"]) for row in rows}


async def check_database() -> list[Problem]:
    from tortoise import connections

    try:
        conn = connections.get("default")
        await asyncio.wait_for(conn.execute_query("SELECT 1"), TIMEOUT)
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready", named
        return [Problem("database", f"unreachable: {_reason(exc)}")]
    try:
        applied = await asyncio.wait_for(_applied_migrations(), TIMEOUT)
    except Exception as exc:  # noqa: BLE001 — no migrations table: never migrated
        return [Problem("migrations", f"cannot read the applied migrations ({_reason(exc)}); "
                                      "run `mailscanner migrate`")]
    missing = [name for name in shipped_migrations() if name not in applied]
    if missing:
        return [Problem("migrations", f"{len(missing)} not applied ({', '.join(missing)}); "
                                      "run `mailscanner migrate`")]
    return []


async def check_redis(url: str) -> list[Problem]:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await asyncio.wait_for(client.ping(), TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return [Problem("redis", f"unreachable: {_reason(exc)}")]
    finally:
        await client.aclose()
    return []


async def check(settings: Settings) -> list[Problem]:
    """Every readiness problem of this process (empty: ready)."""
    problems = await check_database()
    if settings.redis_url is not None:
        problems += await check_redis(settings.redis_url)
    return problems
