"""`dryRunScanner`: what a scanner would do to the mail in its mailbox now (admin only).

It talks to the mail server during the request, as `testScannerConnection` does, bounded by
SERVER_TIMEOUT: the admin waits for exactly this answer, and nothing is written anywhere
(scanning/dry_run.py). Bad input comes back as a ValidationError naming the argument: the
limit out of range, a condition with the position of its mistake, a rule of another
scanner, a folder the mailbox does not have.
"""

from __future__ import annotations

import asyncio

import strawberry

from .. import models
from ..schema.dry_run import DryRun, DryRunPick, DryRunScannerResult
from ..schema.errors import ErrorCode, InputErrors
from ..schema.limits import ITEMS
from ..schema.rule import ConditionInput, RuleInput
from ..schema.scanning import MailConnectionError
from ..transport.errors import MailError
from .common import get_or_none, not_found, parse_id
from .context import Info
from .permissions import IsAdmin
from .rule import parse_condition
from .scanning import SERVER_TIMEOUT, _timeout_error
from .validation import check_length

MAX_RULE_IDS = ITEMS["Query.dryRunScanner(ruleIds:)"]


def _condition(
    text: str | None, tree: ConditionInput | None, errors: InputErrors
) -> dict[str, object] | None:
    """The draft condition's stored form; errors name the argument (not `input.`)."""
    if text is None and tree is None:
        return None
    found = InputErrors()
    stored = parse_condition(RuleInput(condition_text=text, condition=tree), found, False)
    for e in found.errors:
        e.field = e.field.removeprefix("input.")
        errors.errors.append(e)
    return stored


async def _rule_ids(
    scanner: models.Scanner, ids: list[strawberry.ID] | None, errors: InputErrors
) -> tuple[int, ...] | None:
    if ids is None:
        return None
    if not ids or len(ids) > MAX_RULE_IDS:
        errors.add("ruleIds", ErrorCode.INVALID, f"Give 1 to {MAX_RULE_IDS} rule ids")
        return None
    numbers = [parse_id(r, f"ruleIds[{i}]", errors) for i, r in enumerate(ids)]
    owners = dict(
        await models.Rule.filter(id__in=[n for n in numbers if n]).values_list("id", "scanner_id")
    )
    for i, number in enumerate(numbers):
        if number is not None and owners.get(number) != scanner.id:
            errors.add(
                f"ruleIds[{i}]",
                ErrorCode.NOT_FOUND,
                f"Scanner {scanner.name!r} has no rule {number}"
                + (" (it belongs to another scanner)" if number in owners else ""),
            )
    return tuple(n for n in numbers if n is not None)


@strawberry.type
class DryRunQueries:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description=(
            "Dry run on the live mailbox: the newest `limit` messages of a folder (or the "
            "ones the next scan reads) through the real rule pipeline, every side effect "
            "described instead of done. Changes nothing: no flags, moves, rows, checkpoints "
            "or emails. limit: 1 to 500; conditionText/condition: a draft condition "
            "explained on each message; ruleIds: try these rules of the scanner instead."
        ),
    )
    async def dry_run_scanner(
        self,
        info: Info,
        id: strawberry.ID,
        folder: str | None = None,
        limit: int = 50,
        messages: DryRunPick = DryRunPick.NEWEST,
        condition_text: str | None = None,
        condition: ConditionInput | None = None,
        rule_ids: list[strawberry.ID] | None = None,
    ) -> DryRunScannerResult:
        from ..scanning.dry_run import MAX_LIMIT, DryRunError, DryRunOptions, dry_run

        scanner = await get_or_none(models.Scanner, id)
        if scanner is None:
            return not_found("Scanner", id)
        errors = InputErrors()
        if not 1 <= limit <= MAX_LIMIT:
            errors.add("limit", ErrorCode.INVALID, f"Must be between 1 and {MAX_LIMIT}")
        check_length(errors, "folder", folder, 500)
        draft = _condition(condition_text, condition, errors)
        ids = await _rule_ids(scanner, rule_ids, errors)
        if errors.errors:
            return errors.as_result()
        options = DryRunOptions(folder or None, limit, messages.value, ids, draft)
        try:
            report = await asyncio.wait_for(
                dry_run(scanner, options, info.context.settings), SERVER_TIMEOUT
            )
        except DryRunError as exc:
            code = ErrorCode.INVALID_FOLDER if exc.field == "folder" else ErrorCode.INVALID
            errors.add(exc.field, code, exc.message)
            return errors.as_result()
        except MailError as exc:
            return MailConnectionError(code=exc.code, message=exc.message)
        except TimeoutError:
            return _timeout_error()
        return DryRun.from_report(report)
