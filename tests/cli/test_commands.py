"""The `mailscanner` command as a newcomer runs it: real processes, real databases."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailscanner.db import close_db, init_db
from mailscanner.models import ApiToken
from mailscanner.models.api_token import hash_token
from mailscanner.settings import Settings


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "mailscanner", *args], env=full,
                          capture_output=True, text=True, timeout=120)


def env_for(settings: Settings) -> dict[str, str]:
    return {"MAILSCANNER_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
            "MAILSCANNER_SECRET_KEY": settings.secret_key}


def test_migrate_then_token_create_prints_a_working_token_last(settings: Settings) -> None:
    env = env_for(settings)
    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    created = run(["token", "create", "--role", "agent", "--name", "ci bot"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("mst_")

    async def check() -> ApiToken | None:
        await init_db(settings)
        try:
            return await ApiToken.filter(token_hash=hash_token(token)).first()
        finally:
            await close_db()

    row = asyncio.run(check())
    assert row is not None and row.role == "agent" and row.name == "ci bot"


def test_migrations_roll_back_and_forward(settings: Settings) -> None:
    env = env_for(settings)
    assert run(["migrate"], env).returncode == 0
    down = run(["migrate", "--to", "models.__first__"], env)
    assert down.returncode == 0, down.stderr
    again = run(["migrate"], env)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("DATABASE_URL", "mysql://x", "DATABASE_URL: unsupported scheme 'mysql'"),
    ("REDIS_URL", "http://x", "REDIS_URL: must start with redis://"),
    ("MAILSCANNER_SECRET_KEY", "short", "MAILSCANNER_SECRET_KEY: must be at least 16 characters"),
    ("MAILSCANNER_PUBLIC_URL", "crm.example.com", "MAILSCANNER_PUBLIC_URL: must be an http(s) URL"),
    ("MAILSCANNER_PARSE_PROCESSES", "two", "MAILSCANNER_PARSE_PROCESSES: must be a whole number"),
])
def test_a_bad_setting_is_one_clear_line_naming_the_variable(
        tmp_path: Path, variable: str, value: str, message: str) -> None:
    result = run(
        ["token", "create", "--role", "admin"],
        {"MAILSCANNER_DATA_DIR": str(tmp_path), variable: value},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mailscanner: {message}" + result.stderr.strip().split(message, 1)[1]
    ]
    assert "Traceback" not in result.stderr


def test_help_speaks_to_the_person_running_the_command(settings: Settings) -> None:
    result = run(["--help"], env_for(settings))
    assert result.returncode == 0
    assert "turns support mailboxes into tickets" in result.stdout
    assert "scan one mailbox now" in result.stdout
    # nothing written for developers (the module docstring talked of `register()`)
    assert "register()" not in result.stdout and "subcommand lives" not in result.stdout
