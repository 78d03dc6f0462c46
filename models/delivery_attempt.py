from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .fields import labelled
from .outbound_email import DeliveryStatus

if TYPE_CHECKING:
    from .outbound_email import OutboundEmail


class DeliveryAttempt(Model):
    """One try at sending an outbox row, kept for the comment's delivery history (a resend
    adds attempts; none is ever overwritten)."""

    id = fields.IntField(primary_key=True)
    outbound_email: fields.ForeignKeyRelation[OutboundEmail] = fields.ForeignKeyField(
        "models.OutboundEmail", related_name="attempt_history", on_delete=fields.CASCADE
    )
    number = labelled(fields.IntField(description="Attempt number of the email"), "Attempt")
    status = labelled(
        fields.CharEnumField(
            DeliveryStatus, description="SENT, FAILED, or QUEUED (failed, retried later)"
        ),
        "Outcome",
    )
    error = labelled(fields.TextField(null=True, description="Why it failed"), "Error")
    at = labelled(fields.DatetimeField(auto_now_add=True, description="When it ended"), "At")

    class Meta:
        table = "ms_delivery_attempt"
        ordering = ["id"]
