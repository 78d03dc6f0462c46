"""`mailscanner rules check TEXT_OR_JSON`: validate a rule and show both of its forms."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from mailscanner.rules_dsl import RuleError, dumps, parse_any, to_text


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `rules` command and its `check` action to the top-level parser."""
    rules = subparsers.add_parser("rules", help="work with mail rules (the rules language)")
    actions = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="parse a rule; print its canonical text and stored JSON",
        description="Exit 0 and print the canonical text and the stored JSON form, or exit 2 "
        "and print the error with a caret under the mistake. A rule starting with '{' is "
        "read as JSON; '-' reads the rule from standard input.",
    )
    check.add_argument("rule", metavar="TEXT_OR_JSON")
    check.set_defaults(func=check_rule)


def check_rule(args: argparse.Namespace) -> int:
    """Run `rules check`; returns the exit code (0 valid, 2 invalid)."""
    source: str = sys.stdin.read() if args.rule == "-" else args.rule
    try:
        rule = parse_any(source)
    except RuleError as exc:
        kind = "syntax error" if exc.__class__.__name__ == "RuleSyntaxError" else "invalid rule"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2
    print(to_text(rule))
    print(dumps(rule))
    return 0
