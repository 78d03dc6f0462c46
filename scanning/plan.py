"""What the planner (planner.py) decides for a message, as data: each action's log record
with its detail (worded once the rows exist) and its dry-run preview, the message's planned
rows, IMAP effects, counts and events; `processed()` turns it into the scan's result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import Contact, Ticket, TicketStatus
from .batch_write import NewComment
from .context import Effect
from .process import LoadedRule, Prepared, Processed, acted_row

__all__ = ["Detail", "PlannedAction", "PlannedMessage", "assignees", "plannable"]

Detail = str | Callable[[], str]
_PLANNED = {"create_contact", "create_or_update_ticket", "move_to_folder", "delete_message"}


def plannable(p: Prepared) -> bool:
    """Whether the planner models everything this message's rules do (a broken rule's mail
    is quarantined by the per-message path instead)."""
    return all(
        not rule.error and all(action["type"] in _PLANNED for action in rule.actions)
        for rule in p.matched
    )


def assignees(rules: list[LoadedRule]) -> set[int]:
    """The user ids the rules' ticket actions may assign (looked up once per batch)."""
    return {
        int(a[key]["assignee_id"])
        for r in rules
        for a in r.actions
        for key in ("set", "set_on_update")
        if isinstance(a.get(key), dict) and a[key].get("assignee_id") is not None
    }


@dataclass(frozen=True)
class PlannedAction:
    """One action's decision: the log record, its log detail, and its dry-run wording."""

    record: dict[str, Any]  # {"type", "rule_id", "outcome"} (the bounce record has no rule)
    detail: Detail
    preview: str


@dataclass(eq=False)
class PlannedMessage:
    """One message's planned outcome; ids are read after the rows are written."""

    uid: int
    prepared: Prepared
    contact: Contact | None = None
    ticket: Ticket | None = None
    comment: NewComment | None = None
    effects: list[Effect] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    actions: list[PlannedAction] = field(default_factory=list)
    events: list[Callable[[], tuple[str, int, dict[str, Any]]]] = field(default_factory=list)
    history: TicketStatus | None = None  # imported as history with this status

    def processed(self) -> Processed:
        """The log row and result, as process._act builds them."""
        p = self.prepared
        actions = [
            {**a.record, "detail": a.detail() if callable(a.detail) else a.detail}
            for a in self.actions
        ]
        effects: list[Effect] = [{"op": "seen"}, *self.effects]
        acted_row(
            p.fields,
            self.counts,
            p.automated,
            p.matched,
            actions,
            effects,
            ticket_id=self.ticket.id if self.ticket else None,
            comment_id=self.comment.id if self.comment else None,
            contact_id=self.contact.id if self.contact else None,
        )
        events = [] if self.history else [e() for e in self.events]  # history wakes nobody
        return Processed(self.uid, None, False, effects, self.counts, events, fields=p.fields)
