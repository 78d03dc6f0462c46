"""`mailscanner token create --role admin|agent [--name NAME]`: the token is the last line of
stdout."""

from __future__ import annotations

import argparse

from .common import run_with_db, settings_or_exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="manage API tokens")
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create an API token and print it (shown only once)")
    c.add_argument("--role", choices=["admin", "agent"], required=True)
    c.add_argument("--name", default=None, help="what the token is for (also the user's name)")
    c.set_defaults(func=create)


def create(args: argparse.Namespace) -> int:
    from ..models import Role
    from ..resolvers.auth import create_token
    settings = settings_or_exit()
    role = Role(args.role)
    name = args.name or f"{args.role} token"
    token = run_with_db(settings, lambda: create_token(role, name))
    print(f"Created {args.role} token {name!r}. It is shown only once; store it now:")
    print(token)
    return 0
