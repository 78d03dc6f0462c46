"""Dry-run shapes: what a scanner would do to the mail in its mailbox, message by message."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from .errors import NotFoundError, ValidationError
from .scanning import MailConnectionError

if TYPE_CHECKING:
    from ..scanning.dry_run_report import (
        ActionPreview,
        DryRunReport,
        MessagePreview,
        RuleCheck,
    )


@strawberry.enum(description="Which messages a dry run looks at")
class DryRunPick(Enum):
    NEWEST = "newest"
    NEXT_SCAN = "next_scan"


@strawberry.enum(description="What the scan would do with a message")
class DryRunOutcome(Enum):
    PROCESSED = "processed"
    NO_MATCH = "no_match"
    SKIPPED = "skipped"
    QUARANTINED = "quarantined"
    NOT_READ = "not_read"


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(description="A rule's condition (or the draft condition) on one message")
class DryRunRuleCheck:
    rule_id: strawberry.ID | None = strawberry.field(description="None for the draft condition")
    name: str
    matches: bool
    explanation: JSON | None = strawberry.field(
        description="As explainRule shows it: each node's result, values and matched text"
    )
    error: str | None = strawberry.field(description="Why the rule cannot be evaluated")

    @classmethod
    def from_check(cls, c: RuleCheck) -> DryRunRuleCheck:
        return cls(
            rule_id=_id(c.rule_id),
            name=c.name,
            matches=c.matches,
            explanation=cast("JSON", c.explanation),
            error=c.error,
        )


@strawberry.type(description="An action the scan would run, and what it would do")
class DryRunAction:
    type: str
    rule_id: strawberry.ID | None
    outcome: str = strawberry.field(description="done, skipped, duplicate or pending (IMAP)")
    description: str = strawberry.field(
        description='e.g. "would add a comment to TT12 (matched by Message-ID)"'
    )

    @classmethod
    def from_preview(cls, a: ActionPreview) -> DryRunAction:
        return cls(type=a.type, rule_id=_id(a.rule_id), outcome=a.outcome,
                   description=a.description)


@strawberry.type(description="One message of the mailbox and what the scan would do with it")
class DryRunMessage:
    uid: str = strawberry.field(description="IMAP UID (as text: it may exceed Int)")
    subject: str
    from_: str = strawberry.field(name="from")
    date: datetime | None = strawberry.field(description="The Date header")
    arrived_at: datetime | None = strawberry.field(description="When the server received it")
    size: int
    kind: str = strawberry.field(description="normal, auto_reply, bounce, ...")
    would_scan: bool = strawberry.field(description="The next scan reads this message")
    already_processed: bool = strawberry.field(description="Processed before: never read again")
    outcome: DryRunOutcome
    skipped_reason: str | None = strawberry.field(
        description="Why the scan would skip or quarantine it (loop protection, ...)"
    )
    matched_rule: DryRunRuleCheck | None = strawberry.field(description="The first matching rule")
    rules: list[DryRunRuleCheck] = strawberry.field(description="Every rule of the folder")
    draft: DryRunRuleCheck | None = strawberry.field(description="The draft condition, if given")
    actions: list[DryRunAction]
    mark_read: bool = strawberry.field(description="The scan would mark it read")

    @classmethod
    def from_preview(cls, m: MessagePreview) -> DryRunMessage:
        return cls(
            uid=str(m.uid), subject=m.subject, from_=m.sender, date=m.date, arrived_at=m.arrived,
            size=m.size, kind=m.kind, would_scan=m.would_scan,
            already_processed=m.already_processed, outcome=DryRunOutcome(m.outcome),
            skipped_reason=m.skipped_reason,
            matched_rule=DryRunRuleCheck.from_check(m.matched_rule) if m.matched_rule else None,
            rules=[DryRunRuleCheck.from_check(r) for r in m.rules],
            draft=DryRunRuleCheck.from_check(m.draft) if m.draft else None,
            actions=[DryRunAction.from_preview(a) for a in m.actions],
            mark_read=m.mark_read,
        )


@strawberry.type(description="A dry run of one folder: nothing was changed anywhere")
class DryRun:
    scanner_id: strawberry.ID
    folder: str
    uidvalidity: str
    folder_messages: int = strawberry.field(description="Messages in the folder")
    next_scan: int = strawberry.field(description="Messages the next scan would read here")
    messages: list[DryRunMessage] = strawberry.field(description="In UID order")
    notes: list[str]

    @classmethod
    def from_report(cls, r: DryRunReport) -> DryRun:
        return cls(
            scanner_id=strawberry.ID(str(r.scanner_id)), folder=r.folder,
            uidvalidity=str(r.uidvalidity), folder_messages=r.folder_messages,
            next_scan=r.next_scan, messages=[DryRunMessage.from_preview(m) for m in r.messages],
            notes=r.notes,
        )


DryRunScannerResult = Annotated[
    DryRun | ValidationError | NotFoundError | MailConnectionError,
    strawberry.union("DryRunScannerResult"),
]
