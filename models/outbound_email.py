from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .comment import Comment
    from .ticket import Ticket


class DeliveryStatus(LabelledEnum):
    QUEUED = ("queued", "Queued")
    SENDING = ("sending", "Sending")
    SENT = ("sent", "Sent")
    FAILED = ("failed", "Failed")
    BOUNCED = ("bounced", "Bounced")  # accepted by the SMTP server, then reported undelivered


class DeliveryReason(LabelledEnum):
    """Why a comment's email was not sent; the delivery's `last_error` says it in words."""

    NO_RECIPIENT = ("no_recipient", "Nobody to send to")
    TEMPLATE_LIMIT = ("template_limit", "The template exceeded a render limit")
    TEMPLATE_ERROR = ("template_error", "The template failed to render")


class OutboundEmail(Model):
    """An email to send (the outbox). Rendered when queued, sent at most once by a job."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="outbound_emails", on_delete=fields.CASCADE)
    comment: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "models.Comment", related_name="outbound_emails", null=True, on_delete=fields.CASCADE)
    message_id = fields.CharField(max_length=998, unique=True)
    in_reply_to = fields.CharField(max_length=998, null=True)
    references: Any = fields.JSONField(default=list)
    recipients: Any = fields.JSONField(default=list)     # ["name <addr>", ...] validated
    subject = fields.CharField(max_length=998)
    text_body = fields.TextField()
    html_body = fields.TextField(default="")
    status = labelled(
        fields.CharEnumField(
            DeliveryStatus, default=DeliveryStatus.QUEUED, description="Email delivery state"
        ),
        "Delivery",
    )
    attempts = labelled(fields.IntField(default=0, description="Send attempts so far"), "Attempts")
    last_error = labelled(
        fields.TextField(null=True, description="Why the last attempt failed"), "Error"
    )
    reason = labelled(
        fields.CharEnumField(DeliveryReason, max_length=32, null=True,
                             description="Why the email was not sent (with status failed)"),
        "Reason",
    )
    # `attempts` when the email was last resent: automatic retries count from there.
    resent_at_attempt = fields.IntField(default=0, db_default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    sent_at = labelled(
        fields.DatetimeField(null=True, description="When the SMTP server accepted it"), "Sent at"
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_outbound_email"
        ordering = ["id"]
