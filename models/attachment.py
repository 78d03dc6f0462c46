from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .fields import labelled

if TYPE_CHECKING:
    from .comment import Comment
    from .ticket import Ticket


class Attachment(Model):
    """A file that came with an email: kept on the ticket (and the comment it arrived with)."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="attachments", on_delete=fields.CASCADE
    )
    comment: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "models.Comment", related_name="attachments", null=True, on_delete=fields.CASCADE
    )
    filename = labelled(
        fields.CharField(max_length=255, description="File name as sent"), "File name"
    )
    content_type = labelled(
        fields.CharField(
            max_length=255, default="application/octet-stream", description="MIME type"
        ),
        "Type",
    )
    size = labelled(fields.IntField(default=0, description="Size in bytes"), "Size")
    sha256 = fields.CharField(max_length=64, default="")
    content_id = fields.CharField(max_length=255, null=True)  # for cid: references in HTML
    inline = fields.BooleanField(default=False)
    content = fields.BinaryField()
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it arrived"), "Created"
    )

    class Meta:
        table = "ms_attachment"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename
