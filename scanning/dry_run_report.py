"""What a dry run reports, message by message (plain data; GraphQL and the CLI shape it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ActionPreview", "DryRunReport", "MessagePreview", "RuleCheck"]


@dataclass(frozen=True)
class RuleCheck:
    """One rule (or the draft condition) on one message: does it match, and why."""

    rule_id: int | None  # None for the draft condition
    name: str
    matches: bool
    explanation: dict[str, Any] | None  # rules_dsl.Explanation.to_dict(); None when broken
    error: str | None = None  # why the rule cannot be evaluated (it quarantines mail)


@dataclass(frozen=True)
class ActionPreview:
    """One action the scan would run, said as it would happen ("would create ticket TT13")."""

    type: str  # create_contact | create_or_update_ticket | move_to_folder | delete_message
    # | bounce
    rule_id: int | None
    outcome: str  # done | skipped | duplicate | pending (an IMAP effect after commit)
    description: str


@dataclass
class MessagePreview:
    """One message and what the scan would do with it."""

    uid: int
    subject: str
    sender: str
    date: datetime | None  # the Date header
    arrived: datetime | None  # INTERNALDATE
    size: int
    kind: str  # normal | auto_reply | bounce (| what mail/ classifies)
    would_scan: bool  # the next scan reads it (scan type, start, checkpoint, not logged)
    already_processed: bool  # it has a log row: the scan never reads it again
    outcome: str  # processed | no_match | skipped | quarantined | not_read
    skipped_reason: str | None = None  # loop protection, re-read, quarantine, budget
    matched_rule: RuleCheck | None = None
    rules: list[RuleCheck] = field(default_factory=list)
    draft: RuleCheck | None = None
    actions: list[ActionPreview] = field(default_factory=list)
    mark_read: bool = False


@dataclass
class DryRunReport:
    """The whole answer: the folder as it is and the messages looked at, in UID order."""

    scanner_id: int
    folder: str
    uidvalidity: int
    folder_messages: int  # EXISTS
    next_scan: int  # messages the next scan would read in this folder
    messages: list[MessagePreview]
    notes: list[str] = field(default_factory=list)  # e.g. the reading budget was reached
