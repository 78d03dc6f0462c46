"""The CPU work of `checkRule` and `explainRule`, run in an isolated worker (isolated.py).

A big condition or a pasted raw email of pathological structure is CPU work the event loop
must not do: every other request (and /healthz) would wait for it. The functions here are
what the worker runs; they take and return plain data (no strawberry objects), and import
only the rule language and the mail parser, which the workers load before their first call.
Past `rule_work_limits` the resolver answers with a ValidationError of code TIMEOUT.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..isolated import Limit, LimitExceeded, Limits, run_isolated
from ..rules_dsl import RuleError, RuleValidationError, explain, loads, parse, to_json, to_text

__all__ = ["rule_work_limits", "RuleProblem", "WorkTimedOut", "check_condition",
           "explain_condition"]

MEMORY_MB = 2048  # a 25 MB pasted email, parsed and explained, fits well within this


def rule_work_limits(budget_s: float) -> Limits:
    """CPU budget from the settings (MAILSCANNER_RESOLVER_BUDGET_SECONDS); the watchdog on
    the wall clock allows a little more, for a loaded machine."""
    return Limits(cpu_s=budget_s, wall_s=budget_s * 1.2 + 0.5, memory_mb=MEMORY_MB)


@dataclass(frozen=True)
class RuleProblem:
    """A rule error as plain data (the resolver turns it into a FieldError)."""

    field: str
    message: str
    line: int | None = None
    column: int | None = None
    caret: str | None = None


class WorkTimedOut(Exception):
    """The work went past its limits; `limit` says which (the message too)."""

    def __init__(self, limit: Limit, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def _problem(field: str, exc: RuleError) -> RuleProblem:
    if isinstance(exc, RuleValidationError) and field == "input.condition":
        field = "input.condition" + exc.path.removeprefix("$")
    return RuleProblem(field, exc.message, exc.line, exc.column, exc.caret() or None)


def stored_condition(text: str | None, tree: dict[str, Any] | None) -> dict[str, Any] | RuleProblem:
    """The stored JSON form of a condition given as text or as a JSON tree."""
    try:
        if text is not None:
            return to_json(parse(text))
        return to_json(loads({"v": 1, **(tree or {})}))
    except RuleError as exc:
        return _problem("input.conditionText" if text is not None else "input.condition", exc)


def _check(text: str | None,
           tree: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | RuleProblem:
    stored = stored_condition(text, tree)
    if isinstance(stored, RuleProblem):
        return stored
    return to_text(loads(stored)), stored


def _explain(text: str | None, tree: dict[str, Any] | None, raw: bytes,
             folder: str) -> tuple[bool, dict[str, Any]] | RuleProblem:
    from ..mail.parsing import parse_email

    stored = stored_condition(text, tree)
    if isinstance(stored, RuleProblem):
        return stored
    explanation = explain(stored, parse_email(raw).with_folder(folder))
    return explanation.result, explanation.to_dict()


async def _isolated(budget_s: float, fn: Any, *args: Any) -> Any:
    try:
        return await run_isolated(fn, *args, limits=rule_work_limits(budget_s))
    except LimitExceeded as exc:
        raise WorkTimedOut(exc.limit, f"Stopped: this input exceeds {exc.message}; make it "
                           "smaller or simpler.") from None


async def check_condition(text: str | None, tree: dict[str, Any] | None, *,
                          budget_s: float) -> tuple[str, dict[str, Any]] | RuleProblem:
    """(text form, stored form) of a condition, or its problem; raises `WorkTimedOut`."""
    result: tuple[str, dict[str, Any]] | RuleProblem = await _isolated(
        budget_s, _check, text, tree)
    return result


async def explain_condition(text: str | None, tree: dict[str, Any] | None, raw: bytes,
                            folder: str, *,
                            budget_s: float) -> tuple[bool, dict[str, Any]] | RuleProblem:
    """(matches, explanation tree) of a condition on a raw email; raises `WorkTimedOut`."""
    result: tuple[bool, dict[str, Any]] | RuleProblem = await _isolated(
        budget_s, _explain, text, tree, raw, folder)
    return result
