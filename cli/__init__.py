"""The `mailscanner` command. Each subcommand lives in its own module with a `register()`."""
from __future__ import annotations

import argparse
import importlib
import sys

# module name in mailscanner.cli -> registers one or more subcommands
_COMMAND_MODULES = (
    "serve", "migrate", "token", "rules", "inspect", "scan", "worker", "watch", "doctor"
)


DESCRIPTION = (
    "Helpdesk mail scanner: turns support mailboxes into tickets and emails agents' comments "
    "back to customers. Configure it through the GraphQL API (GraphiQL at /graphql)."
)
EPILOG = (
    "Configuration comes from the environment (DATABASE_URL, REDIS_URL, "
    "MAILSCANNER_DATA_DIR, ...; see README.md). "
    "'mailscanner COMMAND --help' shows a command's options."
)


def build_parser() -> argparse.ArgumentParser:
    # The module docstring is for developers; the help text is for whoever runs the command.
    parser = argparse.ArgumentParser(prog="mailscanner", description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"mailscanner.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mailscanner.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
