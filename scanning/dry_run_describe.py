"""Turning a dry run's decisions into what it reports (dry_run_report.py).

A planned message (planner.py) is described by its actions' previews, completed with what
only the mailbox knows: whether a move's target folder exists, and that after the first
move or delete later ones have nothing left to move (effects.apply_effects does the same).
Mail the planner does not handle is described from its would-be log row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import MessageOutcome
from .dry_run_report import ActionPreview, MessagePreview, RuleCheck
from .plan import PlannedMessage
from .process import Prepared, Processed

if TYPE_CHECKING:
    from ..transport.imap import MessageMeta
    from .dry_run import _Chosen

__all__ = ["describe_planned", "describe_unplanned", "not_read"]


def _matched(preview: MessagePreview, rule_id: int) -> RuleCheck | None:
    return next((r for r in preview.rules if r.rule_id == rule_id), None)


def describe_planned(
    preview: MessagePreview, msg: PlannedMessage, folder: str, live_folders: set[str]
) -> None:
    """Fill `preview` from a planned message."""
    p = msg.prepared
    if p.matched:
        preview.matched_rule = _matched(preview, p.matched[0].model.id)
    if p.automated:
        preview.outcome, preview.skipped_reason = MessageOutcome.SKIPPED.value, p.automated
    gone: str | None = None  # where the first move or delete takes the message
    for action in msg.actions:
        record, text = action.record, action.preview
        kind = record["type"]
        if record["outcome"] == "pending" and kind in ("move_to_folder", "delete_message"):
            if gone is not None:
                text = f"nothing to do: the message is already {gone}"
            elif kind == "move_to_folder":
                target = text.removeprefix("would move to ")
                exists = target in live_folders
                text += " (folder exists)" if exists else " (the folder would be created)"
                gone = f"moved to {target}"
            else:
                gone = "deleted"
        preview.actions.append(
            ActionPreview(kind, record.get("rule_id"), record["outcome"], text)
        )
    preview.mark_read = True


def describe_unplanned(preview: MessagePreview, item: Processed | Prepared | str) -> None:
    """Fill `preview` for mail the planner does not handle: no rule matched, loop
    protection without a matching rule, unreadable, re-read, or quarantined."""
    if isinstance(item, str):  # preparing it failed
        _quarantined(preview, item)
        return
    if isinstance(item, Prepared):
        broken = next((r for r in item.matched if r.error), None)
        if item.matched:
            preview.matched_rule = _matched(preview, item.matched[0].model.id)
        if broken is not None:
            # the per-message path raises ActionConfigError("rule", ...) for it
            _quarantined(preview, f"ActionConfigError: rule: {broken.error}")
            return
        preview.actions = [
            ActionPreview(a["type"], r.model.id, "unknown", "the dry run cannot preview this")
            for r in item.matched
            for a in r.actions
        ]
        return
    fields: dict[str, Any] = item.fields
    outcome = fields.get("outcome")
    preview.outcome = getattr(outcome, "value", str(outcome))
    preview.skipped_reason = fields.get("reason")
    preview.mark_read = any(e.get("op") == "seen" for e in fields.get("pending_effects") or [])


def _quarantined(preview: MessagePreview, reason: str) -> None:
    preview.outcome = MessageOutcome.QUARANTINED.value
    preview.skipped_reason = f"would be quarantined: {reason}"
    preview.mark_read = False  # quarantined mail stays unread, for a person to see


def not_read(meta: MessageMeta, chosen: _Chosen) -> MessagePreview:
    """A message over the dry run's reading budget: only what FETCH said about it."""
    return MessagePreview(
        uid=meta.uid,
        subject="",
        sender="",
        date=None,
        arrived=meta.arrived,
        size=meta.size,
        kind="",
        would_scan=meta.uid in chosen.upcoming,
        already_processed=meta.uid in chosen.logged,
        outcome="not_read",
        skipped_reason="not read: over the dry run's reading budget",
    )
