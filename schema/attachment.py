"""Files on tickets and comments."""
from __future__ import annotations

from datetime import datetime

import strawberry

from .. import models
from .enums import SkippedReasonEnum

DOWNLOAD_PATH = "/attachments/{id}"


@strawberry.type(
    name="Attachment",
    description="A file that came with an email or an agent's comment. Skipped files "
    "(too large, undecodable) are listed without bytes: no sha256, no downloadUrl.",
)
class AttachmentType:
    id: strawberry.ID
    filename: str
    content_type: str = strawberry.field(description="MIME type as the sender declared it")
    size: int = strawberry.field(description="Size in bytes (decoded)")
    sha256: str | None = strawberry.field(description="Hex SHA-256 of the bytes; also the ETag")
    inline: bool = strawberry.field(description="Shown inside the HTML body (cid: image)")
    content_id: str | None = strawberry.field(description="Content-ID, no angle brackets")
    created_at: datetime
    skipped: bool = strawberry.field(description="True when the bytes were not kept")
    skipped_reason: SkippedReasonEnum | None  # type: ignore[valid-type]
    download_url: str | None = strawberry.field(
        description="Path of the download (GET with the same Bearer token); null if skipped"
    )
    comment_id: strawberry.ID | None = strawberry.field(
        description="The comment it arrived with; null for the ticket's first message"
    )

    @classmethod
    def from_model(cls, m: models.Attachment) -> AttachmentType:
        kept = m.skipped_reason is None and bool(m.storage_key)
        comment_id = m.comment_id  # type: ignore[attr-defined]
        return cls(
            id=strawberry.ID(str(m.id)), filename=m.filename, content_type=m.content_type,
            size=m.size, sha256=m.sha256 or None if kept else None, inline=m.inline,
            content_id=m.content_id, created_at=m.created_at, skipped=not kept,
            skipped_reason=m.skipped_reason,
            download_url=DOWNLOAD_PATH.format(id=m.id) if kept else None,
            comment_id=strawberry.ID(str(comment_id)) if comment_id is not None else None,
        )
