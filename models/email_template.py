from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import labelled

TICKET_COMMENT_TEMPLATE = "ticket_comment_changed"


class EmailTemplate(Model):
    """An editable email template with `$module-field$` tags and sandboxed Jinja2."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=100, unique=True, null=True)  # system templates
    name = labelled(fields.CharField(max_length=200, description="Template name"), "Name")
    subject = labelled(
        fields.CharField(max_length=998, description="Subject, must carry $helpdesk-ticket_no$"),
        "Subject",
    )
    body = labelled(
        fields.TextField(description="Message body, first line $helpdesk-replyabove$"),
        "Message body",
    )
    send_to: Any = labelled(
        fields.JSONField(default=list, description="Recipients: contact_email, assignee_email"),
        "Send to",
    )
    active = labelled(
        fields.BooleanField(default=True, description="Inactive templates are not used"), "Active"
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_email_template"
