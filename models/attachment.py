from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled

if TYPE_CHECKING:
    from .comment import Comment
    from .ticket import Ticket


class SkippedReason(LabelledEnum):
    TOO_LARGE = ("too_large", "Larger than the attachment size limit")
    UNDECODABLE = ("undecodable", "Its content could not be decoded")


class Attachment(Model):
    """A file that came with an email or with an agent's comment: kept on the ticket (and
    the comment it arrived with). The bytes live in the blob store (`storage`, `storage_key`),
    never in this table; a skipped file is listed without bytes."""

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
    storage = fields.CharField(
        max_length=16, default="local", db_default="local",
        description="Blob store backend holding the bytes",
    )
    storage_key = fields.CharField(
        max_length=255, null=True, db_index=True,
        description="Key of the bytes in the blob store (null: skipped, no bytes kept)",
    )
    skipped_reason = labelled(
        fields.CharEnumField(
            SkippedReason, null=True, description="Why the file's bytes were not kept"
        ),
        "Skipped",
    )
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it arrived"), "Created"
    )

    class Meta:
        table = "ms_attachment"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename
