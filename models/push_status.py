from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .scanner import Scanner


class PushState(LabelledEnum):
    IDLING = ("idling", "Idling: the server tells us about new mail at once")
    POLLING = ("polling", "Polling: the server has no IDLE; checked at the scan interval")
    CONNECTING = ("connecting", "Connecting")
    BACKING_OFF = ("backing_off", "Backing off after an error; reconnecting soon")


class PushStatus(Model):
    """How the watcher of a scanner's mailbox stands, written by whichever process watches it.

    One row per scanner, kept in the database so the embedded mode (no Redis) and the
    watcher processes show it the same way. A scanner with several folders shows the worst
    state among them. No row (or `state` NULL): nobody watches the mailbox (push off,
    inactive, no rules, or no watcher process running)."""

    id = fields.IntField(primary_key=True)
    scanner: fields.OneToOneRelation[Scanner] = fields.OneToOneField(
        "models.Scanner", related_name="push_status", on_delete=fields.CASCADE
    )
    state = labelled(
        fields.CharEnumField(PushState, null=True, description="Where the watcher stands"),
        "Push state",
    )
    since = labelled(
        fields.DatetimeField(null=True, description="When the watcher entered this state"),
        "Since",
    )
    last_event_at = labelled(
        fields.DatetimeField(null=True, description="When the server last reported a change"),
        "Last event",
    )
    last_error = labelled(
        fields.TextField(null=True, description="Why the last connection failed"), "Last error"
    )
    watcher = fields.CharField(max_length=200, null=True)  # host:pid of the watching process
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_push_status"
