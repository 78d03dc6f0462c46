"""Rules: a condition in the rules language (text or structured) and ordered actions."""
from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from .. import models
from ..rules_dsl import RuleError, loads, to_text
from .errors import NotFoundError, ValidationError


@strawberry.type(name="Rule", description="A scanner rule: folders, condition, ordered actions")
class RuleType:
    id: strawberry.ID
    name: str
    active: bool
    sequence: int
    folders: list[str]
    condition: JSON = strawberry.field(
        description="The condition in the rules language's JSON form"
    )
    condition_text: str = strawberry.field(
        description="The condition in the rules language's text form"
    )
    actions: JSON = strawberry.field(description="Ordered actions: [{type, ...config}]")
    continue_after_match: bool
    scanner_id: strawberry.ID
    problem: str | None = strawberry.field(
        description="Why this stored rule no longer validates (e.g. saved by an older version "
        "or edited in the database); such a rule quarantines the mail it matches until fixed. "
        "Null when the rule is fine"
    )

    @classmethod
    def from_model(cls, m: models.Rule, problem: str | None = None) -> RuleType:
        """`problem`: what the caller found wrong with the rule's actions, if anything; a
        condition that does not load is found here (then `conditionText` is empty)."""
        try:
            text = to_text(loads(m.condition))
        except (RuleError, ValueError, TypeError, KeyError) as exc:
            text = ""
            reason = exc.message if isinstance(exc, RuleError) else str(exc)
            problem = f"The condition is not valid: {reason}"
        return cls(id=strawberry.ID(str(m.id)), name=m.name, active=m.active, sequence=m.sequence,
                   folders=list(m.folders), condition=m.condition,
                   condition_text=text, actions=m.actions,
                   continue_after_match=m.continue_after_match,
                   scanner_id=strawberry.ID(str(m.scanner_id)),  # type: ignore[attr-defined]
                   problem=problem)


@strawberry.input(description=(
    "A condition tree mirroring the rules language, for rule-builder UIs: either a group "
    "(exactly one of and / or / not) or a comparison (field, op, value)."))
class ConditionInput:
    and_: list[ConditionInput] | None = strawberry.field(default=None, name="and")
    or_: list[ConditionInput] | None = strawberry.field(default=None, name="or")
    not_: ConditionInput | None = strawberry.field(default=None, name="not")
    field: str | None = strawberry.field(
        default=None, description="e.g. subject, from, header, size"
    )
    header: str | None = strawberry.field(
        default=None, description="Header name, for field: header"
    )
    op: str | None = strawberry.field(
        default=None, description="e.g. contains, ends_with, matches, gt"
    )
    value: JSON | None = strawberry.field(
        default=None, description="String, list, size in bytes or ISO date"
    )
    all: bool | None = strawberry.field(
        default=None, description="Every value of a multi-valued field must match"
    )
    case: bool | None = strawberry.field(default=None, description="Case-sensitive comparison")


@strawberry.input(description="A rule; give the condition as text or as a tree (one of them)")
class RuleInput:
    name: str | None = None
    active: bool | None = None
    folders: list[str] | None = None
    condition_text: str | None = None
    condition: ConditionInput | None = None
    actions: JSON | None = strawberry.field(
        default=None, description="[{type, ...config}] in run order"
    )
    continue_after_match: bool | None = None


@strawberry.type(name="RuleOperator")
class RuleOperatorType:
    name: str
    phrase: str
    label: str


@strawberry.type(name="RuleField", description="A field a condition can test, with its operators")
class RuleFieldType:
    name: str
    label: str
    kind: str
    multi: bool
    help: str
    operators: list[RuleOperatorType]
    choices: list[str] = strawberry.field(
        description="The values a `choice` field takes (e.g. kind: normal, bounce, ...); "
        "empty for free-form fields"
    )


@strawberry.type(name="RuleCheck", description="A valid condition in both forms")
class RuleCheckType:
    text: str
    json: JSON


@strawberry.type(name="RuleExplanation", description="Why a condition matches an email or not")
class RuleExplanationType:
    matches: bool
    tree: JSON = strawberry.field(
        description="Each node: kind, result, text, path, values, matched, children"
    )


@strawberry.type
class RulePayload:
    rule: RuleType


@strawberry.type
class RulesPayload:
    rules: list[RuleType]


RuleResult = Annotated[
    RulePayload | ValidationError | NotFoundError, strawberry.union("RuleResult")
]
ReorderRulesResult = Annotated[
    RulesPayload | ValidationError | NotFoundError, strawberry.union("ReorderRulesResult")
]
CheckRuleResult = Annotated[RuleCheckType | ValidationError, strawberry.union("CheckRuleResult")]
CheckRuleExplanation = Annotated[
    RuleExplanationType | ValidationError, strawberry.union("ExplainRuleResult")
]
