from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .contact import Contact
    from .ticket import Ticket
    from .user import User


class CommentSource(LabelledEnum):
    CRM = ("crm", "CRM")
    EMAIL = ("email", "Email")


class Comment(Model):
    """One message in a ticket's conversation: written by an agent (CRM) or a contact (email)."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="comments", on_delete=fields.CASCADE)
    body = labelled(fields.TextField(description="The comment text"), "Comment")
    author_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="comments", null=True, on_delete=fields.SET_NULL)
    author_contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="comments", null=True, on_delete=fields.SET_NULL)
    source = labelled(fields.CharEnumField(
        CommentSource, default=CommentSource.CRM, description="Where it was written"), "Source")
    internal = labelled(fields.BooleanField(
        default=False, description="Internal notes are never emailed to the customer"), "Internal")
    # For comments from email: the mail's Message-ID and the text cut below the reply marker.
    message_id = fields.CharField(max_length=998, null=True, db_index=True)
    quoted_text = fields.TextField(default="")
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was written"), "Created"
    )

    class Meta:
        table = "ms_comment"
        ordering = ["id"]
