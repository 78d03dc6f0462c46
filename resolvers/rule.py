"""Scanner rules: create/update with the text or the structured form, reorder, check."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

import strawberry
from tortoise.transactions import in_transaction

from .. import models
from ..isolated import Limit
from ..rules_dsl import (
    FIELDS,
    OPERATORS,
    RuleError,
    RuleValidationError,
    loads,
    parse,
    to_json,
)
from ..schema.errors import ErrorCode, InputErrors, ValidationError
from ..schema.limits import MAX_RULES_PER_SCANNER
from ..schema.rule import (
    CheckRuleExplanation,
    CheckRuleResult,
    ConditionInput,
    ReorderRulesResult,
    RuleCheckType,
    RuleExplanationType,
    RuleFieldType,
    RuleInput,
    RuleOperatorType,
    RulePayload,
    RuleResult,
    RulesPayload,
    RuleType,
)
from ..schema.scanner import DeletePayload, DeleteResult
from ..watch.supervisor import notify_scanner_changed
from .common import get_or_none, not_found, parse_id
from .context import Info
from .permissions import IsAdmin
from .rule_work import RuleProblem, WorkTimedOut, check_condition, explain_condition
from .validation import check_length, check_required

if TYPE_CHECKING:
    from strawberry.scalars import JSON


def condition_to_json(node: ConditionInput) -> dict[str, Any]:
    """The structured GraphQL input as the language's JSON form (validated by `loads`)."""
    out: dict[str, Any] = {}
    if node.and_ is not None:
        out["and"] = [condition_to_json(c) for c in node.and_]
    if node.or_ is not None:
        out["or"] = [condition_to_json(c) for c in node.or_]
    if node.not_ is not None:
        out["not"] = condition_to_json(node.not_)
    for key in ("field", "header", "op", "value", "all", "case"):
        value = getattr(node, key)
        if value is not None:
            out[key] = value
    return out


def _rule_error(errors: InputErrors, field: str, exc: RuleError) -> None:
    if isinstance(exc, RuleValidationError) and field == "input.condition":
        field = "input.condition" + exc.path.removeprefix("$")
    errors.add(field, ErrorCode.INVALID_RULE, exc.message, line=exc.line, column=exc.column,
               caret=exc.caret() or None)


def parse_condition(data: RuleInput, errors: InputErrors, required: bool) -> dict[str, Any] | None:
    """The stored JSON form of the given condition, or None (error recorded / not given)."""
    if data.condition_text is not None and data.condition is not None:
        errors.add(
            "input.conditionText", ErrorCode.INVALID, "Give conditionText or condition, not both"
        )
        return None
    try:
        if data.condition_text is not None:
            return to_json(parse(data.condition_text))
        if data.condition is not None:
            return to_json(loads({"v": 1, **condition_to_json(data.condition)}))
    except RuleError as exc:
        _rule_error(
            errors,
            "input.conditionText" if data.condition_text is not None else "input.condition",
            exc,
        )
        return None
    if required:
        errors.add("input.conditionText", ErrorCode.REQUIRED, "A rule needs a condition")
    return None


def check_actions(actions: Any, errors: InputErrors) -> list[dict[str, Any]] | None:
    """Each action validated by its own module; stored normalized. Errors name the key."""
    from ..scanning.actions.registry import ActionConfigError, validate_action

    if not isinstance(actions, list):
        errors.add(
            "input.actions", ErrorCode.INVALID_ACTION, "Actions must be a list of {type, ...}"
        )
        return None
    normalized = []
    for i, action in enumerate(actions):
        try:
            normalized.append(validate_action(action))
        except ActionConfigError as exc:
            errors.add(f"input.actions[{i}].{exc.key}", ErrorCode.INVALID_ACTION, exc.problem)
    return normalized


def actions_problem(actions: Any) -> str | None:
    """Why stored actions no longer validate (a listing shows it), or None."""
    from ..scanning.actions.registry import ActionConfigError, validate_actions

    try:
        validate_actions(actions)
    except ActionConfigError as exc:
        return f"An action is not valid: {exc}"
    return None


async def check_assignees(actions: list[dict[str, Any]] | None, errors: InputErrors) -> None:
    """A ticket action may only assign to a user that exists (the scan would drop it)."""
    for i, action in enumerate(actions or []):
        for key in ("set", "set_on_update"):
            user_id = (action.get(key) or {}).get("assignee_id")
            if user_id is not None and not await models.User.exists(id=user_id):
                errors.add(f"input.actions[{i}].{key}.assignee_id", ErrorCode.NOT_FOUND,
                           f"No user with id {user_id}: choose an existing user as assignee")


LIVE_FOLDERS_TIMEOUT = 15.0


async def check_folders_exist(scanner: models.Scanner, folders: list[str] | None,
                              errors: InputErrors) -> None:
    """Folder names are checked against the mailbox's live folder list when it answers.

    An unreachable mailbox does not block saving (rules may be set up before the server is
    reachable); the scan then reports a missing folder in the run's error.
    """
    if not folders or errors.errors:
        return
    from ..scanning.connect import list_folders
    from ..transport.errors import MailError

    try:
        live = await asyncio.wait_for(list_folders(scanner), LIVE_FOLDERS_TIMEOUT)
    except (MailError, TimeoutError):
        return
    names = {f.name for f in live if f.selectable}
    for i, folder in enumerate(folders):
        if folder not in names:
            shown = ", ".join(sorted(names)[:20])
            errors.add(f"input.folders[{i}]", ErrorCode.INVALID_FOLDER,
                       f"The mailbox has no folder {folder!r} (it has: {shown})")


def _check_folders(folders: list[str] | None, errors: InputErrors) -> None:
    for i, folder in enumerate(folders or []):
        if not folder.strip():
            errors.add(f"input.folders[{i}]", ErrorCode.INVALID_FOLDER, "Folder name is empty")
        check_length(errors, f"input.folders[{i}]", folder, 500)


@strawberry.type
class RuleQueries:
    @strawberry.field(
        permission_classes=[IsAdmin], description="A scanner's rules in evaluation order"
    )
    async def rules(self, info: Info, scanner_id: strawberry.ID) -> list[RuleType]:
        sid = parse_id(scanner_id, "scannerId")
        rows = await models.Rule.filter(scanner_id=sid).order_by("sequence", "id")
        # One rule that no longer validates is listed with its problem, never fails the list.
        return [RuleType.from_model(r, actions_problem(r.actions)) for r in rows]

    @strawberry.field(
        permission_classes=[IsAdmin], description="Fields and operators for a rule builder"
    )
    def rule_fields(self, info: Info) -> list[RuleFieldType]:
        return [
            RuleFieldType(
                name=f.name,
                label=f.label,
                kind=f.kind,
                multi=f.multi,
                help=f.help,
                choices=list(f.choices),
                operators=[
                    RuleOperatorType(name=o, phrase=OPERATORS[o].phrase, label=OPERATORS[o].label)
                    for o in f.operators
                ],
            )
            for f in FIELDS.values()
        ]

    @strawberry.field(permission_classes=[IsAdmin], description=(
        "Validate a condition; returns both forms. Runs in an isolated process: past its "
        "time budget the answer is a ValidationError with code TIMEOUT."))
    async def check_rule(
        self, info: Info, condition_text: str | None = None, condition: ConditionInput | None = None
    ) -> CheckRuleResult:
        errors = InputErrors()
        tree = _given_condition(condition_text, condition, errors)
        if errors.errors:
            return errors.as_result()
        try:
            result = await check_condition(
                condition_text, tree, budget_s=info.context.settings.resolver_budget_seconds)
        except WorkTimedOut as exc:
            return _timed_out(errors, _condition_field(condition_text), exc)
        if isinstance(result, RuleProblem):
            return _problem_result(errors, result)
        text, stored = result
        return RuleCheckType(text=text, json=cast("JSON", stored))


def _given_condition(condition_text: str | None, condition: ConditionInput | None,
                     errors: InputErrors) -> dict[str, Any] | None:
    """The structured condition as plain JSON (checked for "exactly one form given")."""
    if condition_text is not None and condition is not None:
        errors.add(
            "input.conditionText", ErrorCode.INVALID, "Give conditionText or condition, not both"
        )
    elif condition_text is None and condition is None:
        errors.add("input.conditionText", ErrorCode.REQUIRED, "A rule needs a condition")
    return condition_to_json(condition) if condition is not None else None


def _condition_field(condition_text: str | None) -> str:
    return "input.conditionText" if condition_text is not None else "input.condition"


def _timed_out(errors: InputErrors, field: str, exc: WorkTimedOut) -> ValidationError:
    code = ErrorCode.TIMEOUT if exc.limit == Limit.TIME else ErrorCode.INVALID
    errors.add(field, code, str(exc))
    return errors.as_result()


def _problem_result(errors: InputErrors, problem: RuleProblem) -> ValidationError:
    errors.add(problem.field, ErrorCode.INVALID_RULE, problem.message, line=problem.line,
               column=problem.column, caret=problem.caret)
    return errors.as_result()


@strawberry.type
class RuleExplainQueries:
    @strawberry.field(permission_classes=[IsAdmin], description=(
        "Dry run: evaluate a condition (a saved rule's, or given as text/tree) on a raw email "
        "(RFC 822 source) and show each condition's result and the matched text. Runs in an "
        "isolated process: past its time budget the answer is a ValidationError with code "
        "TIMEOUT."))
    async def explain_rule(self, info: Info, raw_email: str, folder: str = "INBOX",
                           condition_text: str | None = None,
                           condition: ConditionInput | None = None) -> CheckRuleExplanation:
        errors = InputErrors()
        tree = _given_condition(condition_text, condition, errors)
        check_length(errors, "rawEmail", raw_email, 25 * 1024 * 1024)
        if errors.errors:
            return errors.as_result()
        raw = raw_email.encode("utf-8", "surrogateescape")
        try:
            result = await explain_condition(
                condition_text, tree, raw, folder,
                budget_s=info.context.settings.resolver_budget_seconds)
        except WorkTimedOut as exc:
            return _timed_out(errors, "rawEmail", exc)
        if isinstance(result, RuleProblem):
            return _problem_result(errors, result)
        matches, explanation = result
        return RuleExplanationType(matches=matches, tree=cast("JSON", explanation))


@strawberry.type
class RuleMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Add a rule at the end of the scanner's list"
    )
    async def create_rule(
        self, info: Info, scanner_id: strawberry.ID, input: RuleInput
    ) -> RuleResult:
        scanner = await get_or_none(models.Scanner, scanner_id)
        if scanner is None:
            return not_found("Scanner", scanner_id)
        errors = InputErrors()
        check_required(errors, "input.name", input.name)
        check_length(errors, "input.name", input.name, 200)
        condition = parse_condition(input, errors, required=True)
        actions = check_actions(input.actions if input.actions is not None else [], errors)
        await check_assignees(actions, errors)
        _check_folders(input.folders, errors)
        if not input.folders:
            errors.add(
                "input.folders", ErrorCode.REQUIRED, "Choose at least one folder, e.g. INBOX"
            )
        if await models.Rule.filter(scanner_id=scanner.id).count() >= MAX_RULES_PER_SCANNER:
            errors.add("scannerId", ErrorCode.TOO_MANY,
                       f"A scanner has at most {MAX_RULES_PER_SCANNER} rules")
        await check_folders_exist(scanner, input.folders, errors)
        if errors.errors:
            return errors.as_result()
        last = await models.Rule.filter(scanner_id=scanner.id).order_by("-sequence").first()
        rule = await models.Rule.create(
            scanner=scanner, name=input.name, active=True if input.active is None else input.active,
            folders=input.folders, condition=condition, actions=actions,
            continue_after_match=bool(input.continue_after_match),
            sequence=(last.sequence + 1) if last else 1)
        await notify_scanner_changed(scanner.id)  # its watchers may have a folder to add
        return RulePayload(rule=RuleType.from_model(rule))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_rule(self, info: Info, id: strawberry.ID, input: RuleInput) -> RuleResult:
        rule = await get_or_none(models.Rule, id)
        if rule is None:
            return not_found("Rule", id)
        errors = InputErrors()
        if input.name is not None:
            check_required(errors, "input.name", input.name)
        check_length(errors, "input.name", input.name, 200)
        condition = parse_condition(input, errors, required=False)
        actions = check_actions(input.actions, errors) if input.actions is not None else None
        await check_assignees(actions, errors)
        _check_folders(input.folders, errors)
        if input.folders is not None and not input.folders:
            errors.add(
                "input.folders", ErrorCode.REQUIRED, "Choose at least one folder, e.g. INBOX"
            )
        await check_folders_exist(await rule.scanner, input.folders, errors)
        if errors.errors:
            return errors.as_result()
        for attr in ("name", "active", "folders", "continue_after_match"):
            if getattr(input, attr) is not None:
                setattr(rule, attr, getattr(input, attr))
        if condition is not None:
            rule.condition = condition
        if actions is not None:
            rule.actions = actions
        await rule.save()
        await notify_scanner_changed(rule.scanner_id)  # type: ignore[attr-defined]
        return RulePayload(rule=RuleType.from_model(rule))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_rule(self, info: Info, id: strawberry.ID) -> DeleteResult:
        rule = await get_or_none(models.Rule, id)
        if rule is None:
            return not_found("Rule", id)
        await rule.delete()
        await notify_scanner_changed(rule.scanner_id)  # type: ignore[attr-defined]
        return DeletePayload(id=id)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Set the evaluation order: all rule ids, first to last",
    )
    async def reorder_rules(
        self, info: Info, scanner_id: strawberry.ID, rule_ids: list[strawberry.ID]
    ) -> ReorderRulesResult:
        scanner = await get_or_none(models.Scanner, scanner_id)
        if scanner is None:
            return not_found("Scanner", scanner_id)
        errors = InputErrors()
        wanted = [parse_id(r, f"ruleIds[{i}]", errors) for i, r in enumerate(rule_ids)]
        # Tortoise types values_list() as tuples even with flat=True.
        ids = await models.Rule.filter(scanner_id=scanner.id).values_list("id", flat=True)
        existing = set(cast("list[int]", ids))
        if not errors.errors and (len(set(wanted)) != len(wanted) or set(wanted) != existing):
            errors.add("ruleIds", ErrorCode.INVALID, "List every rule of this scanner exactly once")
        if errors.errors:
            return errors.as_result()
        async with in_transaction() as conn:
            for position, rule_id in enumerate(wanted, start=1):
                await models.Rule.filter(id=rule_id).using_db(conn).update(sequence=position)
        rows = await models.Rule.filter(scanner_id=scanner.id).order_by("sequence", "id")
        return RulesPayload(rules=[RuleType.from_model(r) for r in rows])
