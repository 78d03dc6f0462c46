"""Shapes for running scans on demand and for live events (scan progress, ticket activity)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import strawberry

from .. import models
from .errors import NotFoundError
from .scanning import ScanRunType
from .ticket import TicketType


@strawberry.type(description="A scan was queued, or one was already queued or running")
class RunScannerPayload:
    scan_run: ScanRunType
    already_active: bool = strawberry.field(
        description="True when the scanner already had a queued or running scan; this is that run"
    )


RunScannerResult = Annotated[
    RunScannerPayload | NotFoundError, strawberry.union("RunScannerResult")
]


@strawberry.enum(description="What happened to a ticket")
class TicketEventKind(Enum):
    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    COMMENT_ADDED = "comment_added"
    COMMENT_EMAIL_SENT = "comment_email_sent"
    COMMENT_EMAIL_FAILED = "comment_email_failed"
    COMMENT_EMAIL_QUEUED = "comment_email_queued"  # resent by an agent (resendCommentEmail)


def _id(value: Any) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(
    name="TicketEvent", description="Live ticket activity, from the API, scans or mail jobs"
)
class TicketEventType:
    kind: TicketEventKind
    ticket_id: strawberry.ID
    comment_id: strawberry.ID | None
    outbound_email_id: strawberry.ID | None
    error: str | None = strawberry.field(description="Why the comment email failed")

    @strawberry.field(description="The ticket as it is now (read when the event is delivered)")
    async def ticket(self) -> TicketType | None:
        # Read fresh, not through the connection's DataLoader: a subscription lives for hours
        # and the loader would keep serving the ticket as it was at the first event.
        row = await models.Ticket.get_or_none(id=int(self.ticket_id))
        return TicketType.from_model(row) if row else None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> TicketEventType | None:
        """None for kinds this API does not know (a newer producer); the caller skips them."""
        try:
            kind = TicketEventKind(event["kind"])
        except (KeyError, ValueError):
            return None
        return cls(
            kind=kind,
            ticket_id=strawberry.ID(str(event["ticket_id"])),
            comment_id=_id(event.get("comment_id")),
            outbound_email_id=_id(event.get("outbound_email_id", event.get("outbound_id"))),
            error=event.get("error") or event.get("reason"),
        )
