"""`mailscanner token create|list|revoke`: API tokens from the server's shell.

    token create --role admin|agent [--name NAME] [--expires-in-days N]
        prints the token as the last line of stdout (shown only this once)
    token list      every token: id, prefix, name, role, user, last use, expiry, status
    token revoke ID|PREFIX|TOKEN
        refused from the next request on; open WebSocket sessions end within seconds
        (at once when REDIS_URL is set: the revocation is published to every API process)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from .common import run_with_db, settings_or_exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="manage API tokens")
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create an API token and print it (shown only once)")
    c.add_argument("--role", choices=["admin", "agent"], required=True)
    c.add_argument("--name", default=None, help="what the token is for (also the user's name)")
    c.add_argument("--expires-in-days", type=_days, default=None, metavar="N",
                   help="refuse the token after N days (default: never)")
    c.set_defaults(func=create)
    ls = tsub.add_parser("list", help="list API tokens (never their secret)")
    ls.set_defaults(func=list_tokens)
    r = tsub.add_parser("revoke", help="revoke a token by id, prefix (mst_...) or whole token")
    r.add_argument("token", metavar="ID|PREFIX|TOKEN")
    r.set_defaults(func=revoke)


def _days(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise argparse.ArgumentTypeError("must be a whole number of days from 1 to 3650")
    return int(raw)


def create(args: argparse.Namespace) -> int:
    from ..models import Role
    from ..resolvers.auth import create_token
    settings = settings_or_exit()
    role = Role(args.role)
    name = args.name or f"{args.role} token"
    expires = timedelta(days=args.expires_in_days) if args.expires_in_days else None
    token = run_with_db(settings, lambda: create_token(role, name, expires_in=expires))
    until = f", valid for {args.expires_in_days} days" if expires else ""
    print(f"Created {args.role} token {name!r}{until}. It is shown only once; store it now:")
    print(token)
    return 0


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def list_tokens(args: argparse.Namespace) -> int:
    from ..models import ApiToken
    settings = settings_or_exit()

    async def rows() -> list[ApiToken]:
        return await ApiToken.all().select_related("user").order_by("id")

    now = datetime.now(UTC)
    table = [("ID", "PREFIX", "NAME", "ROLE", "USER", "LAST USED", "EXPIRES", "STATUS")]
    for row in run_with_db(settings, rows):
        table.append((str(row.id), row.prefix or "-", row.name, row.role.value, row.user.name,
                      _when(row.last_used_at), _when(row.expires_at), row.status(now)))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def revoke(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    try:
        message = run_with_db(settings, lambda: _revoke(args.token, settings.redis_url))
    except LookupError as exc:
        print(f"mailscanner: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


async def _revoke(ref: str, redis_url: str | None) -> str:
    from ..models import ApiToken
    from ..models.api_token import TOKEN_PREFIX, hash_token
    from ..resolvers.auth import revoke_token

    ref = ref.strip()
    if ref.isdigit():
        matches = await ApiToken.filter(id=int(ref)).limit(2) if int(ref) < 2**31 else []
    elif ref.startswith(TOKEN_PREFIX) and len(ref) > 20:  # a whole token
        matches = await ApiToken.filter(token_hash=hash_token(ref)).limit(2)
    elif ref.startswith(TOKEN_PREFIX) and len(ref) >= len(TOKEN_PREFIX) + 4:
        matches = await ApiToken.filter(prefix__startswith=ref).limit(2)
    else:
        raise LookupError(f"{ref!r} is not a token id, a prefix such as mst_AbCd, or a token")
    if not matches:
        raise LookupError(f"no API token matches {ref!r} (see `mailscanner token list`)")
    if len(matches) > 1:
        raise LookupError(f"several API tokens start with {ref!r}: give more characters or the id")
    row = matches[0]
    async with _events_to_redis(redis_url):
        changed = await revoke_token(row)
    if not changed:
        return f"Token {row.id} ({row.prefix or row.name}) was already revoked"
    return f"Revoked token {row.id} ({row.prefix or '-'}, {row.name!r})"


@contextlib.asynccontextmanager
async def _events_to_redis(redis_url: str | None) -> AsyncIterator[None]:
    """With REDIS_URL, publish through Redis so every API process ends the token's WebSocket
    sessions now; without it they notice at their next periodic re-check."""
    if redis_url is None:
        yield
        return
    from redis.asyncio import Redis

    from .. import events
    from ..workers.config import JobsConfig
    from ..workers.redis_events import RedisBroker
    redis = Redis.from_url(redis_url)
    events.set_broker(RedisBroker(redis, JobsConfig.from_env()))
    try:
        yield
    finally:
        events.set_broker(events.InProcessBroker())
        await redis.aclose()
