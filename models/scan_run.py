from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .scanner import Scanner


class ScanRunStatus(LabelledEnum):
    QUEUED = ("queued", "Queued")
    RUNNING = ("running", "Running")
    SUCCEEDED = ("succeeded", "Succeeded")
    FAILED = ("failed", "Failed")
    UNCHANGED = ("unchanged", "Unchanged (the cheap check found nothing new; not scanned)")


COUNT_NAMES = (
    "seen", "matched", "tickets_created", "tickets_updated", "comments_added",
    "contacts_created", "moved", "deleted", "skipped", "errors", "imported",
)


def empty_counts() -> dict[str, int]:
    return {name: 0 for name in COUNT_NAMES}


class ScanRun(Model):
    """One scan of one scanner: when, how it ended, what it did, live progress."""

    id = fields.IntField(primary_key=True)
    scanner: fields.ForeignKeyRelation[Scanner] = fields.ForeignKeyField(
        "models.Scanner", related_name="scan_runs", on_delete=fields.CASCADE)
    status = labelled(
        fields.CharEnumField(
            ScanRunStatus, default=ScanRunStatus.QUEUED, description="Where the run stands"
        ),
        "Status",
    )
    # schedule | manual | cli | push | recovery (the rest of a dead CLI scan's work)
    trigger = fields.CharField(max_length=20, default="schedule")
    queued_at = fields.DatetimeField(auto_now_add=True)
    started_at = labelled(
        fields.DatetimeField(null=True, description="When the scan started"), "Started"
    )
    finished_at = labelled(
        fields.DatetimeField(null=True, description="When the scan ended"), "Finished"
    )
    counts: Any = fields.JSONField(default=empty_counts)
    processed = fields.IntField(default=0)
    total = fields.IntField(default=0)
    error = labelled(fields.TextField(null=True, description="Why the run failed"), "Error")
    # [{"code", "message", "folder", "rules": [{"id", "name"}]}]: what an admin should fix
    # although the run did its work (a rule's folder is gone); never a reason to back off.
    warnings: Any = fields.JSONField(default=list, db_default="[]")

    class Meta:
        table = "ms_scan_run"
        ordering = ["-id"]
