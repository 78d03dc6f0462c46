"""`mailscanner serve`: the API with GraphiQL at /graphql; jobs run in-process unless REDIS_URL
is set."""

from __future__ import annotations

import argparse
import asyncio

from .common import run_with_db, settings_or_exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the API (GraphiQL at /graphql)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


async def _first_start_token() -> str | None:
    """On the very first start (no token at all), create an admin token, like Jupyter does."""
    from ..models import ApiToken, Role
    from ..resolvers.auth import create_token
    if await ApiToken.exists():
        return None
    return await create_token(Role.ADMIN, "first admin", "Administrator")


def run(args: argparse.Namespace) -> int:
    from ..app import create_app
    from ..http_server import Server, server_config
    from ..ops import logs
    settings = settings_or_exit()
    logs.configure(args.log_level, settings.log_format)
    token = run_with_db(settings, _first_start_token)
    url = f"http://{args.host}:{args.port}/graphql"
    if token:
        print("First start: an admin token was created. It is shown only this once:\n")
        print(f"    {token}\n")
        print(f"Open {url} and add the header  Authorization: Bearer {token}")
    else:
        print(f"GraphiQL: {url}  (use a token from `mailscanner token create --role admin`)")
    mode = "in-process jobs" if settings.embedded else f"jobs on Redis {settings.redis_url}"
    print(
        f"Database: {settings.database_url.split('://')[0]}; {mode}; data dir {settings.data_dir}"
    )
    app = create_app(settings)
    config = server_config(app, settings, host=args.host, port=args.port,
                           log_level=args.log_level)
    asyncio.run(Server(config).serve())
    return 0
