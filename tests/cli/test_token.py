"""`mailscanner token create|list|revoke` as an admin runs them on the server."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from mailscanner.db import close_db, init_db
from mailscanner.resolvers.auth import InvalidToken, authenticate
from mailscanner.settings import Settings

from .test_commands import env_for, run


def _check(settings: Settings, token: str) -> str:
    """'ok' or the refusal a request with `token` would get."""
    async def check() -> str:
        await init_db(settings)
        try:
            await authenticate(token)
            return "ok"
        except InvalidToken as exc:
            return exc.message
        finally:
            await close_db()
    return asyncio.run(check())


def test_tokens_are_listed_without_secrets_and_revoked_by_prefix(settings: Settings) -> None:
    env = env_for(settings)
    assert run(["migrate"], env).returncode == 0
    # given: two tokens, one expiring in 2 days
    bot = run(["token", "create", "--role", "agent", "--name", "bot", "--expires-in-days", "2"],
              env).stdout.splitlines()[-1]
    admin = run(["token", "create", "--role", "admin"], env).stdout.splitlines()[-1]
    # when
    listed = run(["token", "list"], env)
    # then
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "PREFIX", "NAME", "ROLE", "USER", "LAST", "USED",
                                "EXPIRES", "STATUS"]
    bot_line = next(line for line in lines if bot[:12] in line)
    expiry = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    assert "agent" in bot_line and expiry in bot_line and bot_line.endswith("active")
    assert bot not in listed.stdout and admin not in listed.stdout
    # when: revoked by its prefix
    revoked = run(["token", "revoke", bot[:12]], env)
    # then
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("Revoked token")
    assert _check(settings, bot).startswith("This API token was revoked on")
    assert _check(settings, admin) == "ok"
    assert next(line for line in run(["token", "list"], env).stdout.splitlines()
                if bot[:12] in line).endswith("revoked")


@pytest.mark.parametrize(("ref", "message"), [
    ("999999", "no API token matches '999999'"),
    ("mst_doesnotexist", "no API token matches"),
    ("hello", "is not a token id, a prefix"),
])
def test_revoking_what_matches_no_token_fails_with_one_line(settings: Settings, ref: str,
                                                            message: str) -> None:
    env = env_for(settings)
    assert run(["migrate"], env).returncode == 0
    result = run(["token", "revoke", ref], env)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_token_can_be_revoked_by_id_or_by_the_whole_token(settings: Settings) -> None:
    env = env_for(settings)
    assert run(["migrate"], env).returncode == 0
    first = run(["token", "create", "--role", "agent"], env).stdout.splitlines()[-1]
    second = run(["token", "create", "--role", "agent"], env).stdout.splitlines()[-1]
    first_id = next(line.split()[0] for line in run(["token", "list"], env).stdout.splitlines()
                    if first[:12] in line)
    assert run(["token", "revoke", first_id], env).returncode == 0
    assert run(["token", "revoke", second], env).returncode == 0
    assert "revoked" in _check(settings, first) and "revoked" in _check(settings, second)
