"""Tickets and their comments."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry

from .. import models
from .attachment import AttachmentType
from .enums import (
    CommentSourceEnum,
    DeliveryReasonEnum,
    DeliveryStatusEnum,
    TicketPriorityEnum,
    TicketStatusEnum,
)
from .errors import NotFoundError, PublicError, ValidationError
from .limits import MAX_COMMENTS
from .people import AccountType, ContactType, UserType

T = TypeVar("T")


@strawberry.type(
    name="EmailDelivery", description="State of the email that carries a comment to the customer"
)
class EmailDeliveryType:
    status: DeliveryStatusEnum  # type: ignore[valid-type]
    recipients: list[str]
    attempts: int
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    row_id: strawberry.Private[int]
    reason: DeliveryReasonEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="Why it was not sent (FAILED): no recipient, or the template failed")

    @strawberry.field(description="Every send attempt so far, oldest first (resends included)")
    async def history(self, info: strawberry.Info[Any, Any]) -> list[DeliveryAttemptType]:
        rows = await info.context.loaders.attempts_by_outbound.load(self.row_id)
        return [DeliveryAttemptType.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: models.OutboundEmail) -> EmailDeliveryType:
        return cls(status=m.status, recipients=list(m.recipients), attempts=m.attempts,
                   sent_at=m.sent_at, last_error=m.last_error, message_id=m.message_id,
                   row_id=m.id, reason=m.reason)


@strawberry.type(name="DeliveryAttempt", description="One try at sending a comment's email")
class DeliveryAttemptType:
    number: int
    at: datetime = strawberry.field(description="When the attempt ended")
    status: DeliveryStatusEnum = strawberry.field(  # type: ignore[valid-type]
        description="SENT, FAILED, BOUNCED, or QUEUED (a temporary failure, retried later)")
    error: str | None

    @classmethod
    def from_model(cls, m: models.DeliveryAttempt) -> DeliveryAttemptType:
        return cls(number=m.number, at=m.at, status=m.status, error=m.error)


@strawberry.type(name="Comment", description="One message of a ticket's conversation")
class CommentType:
    id: strawberry.ID
    body: str
    source: CommentSourceEnum  # type: ignore[valid-type]
    internal: bool
    created_at: datetime
    quoted_text: str = strawberry.field(
        description="For email comments: the quoted text cut below the reply marker"
    )
    ticket_id: strawberry.Private[int]
    author_user_id: strawberry.Private[int | None]
    author_contact_id: strawberry.Private[int | None]
    row_id: strawberry.Private[int]

    @strawberry.field(description="The agent who wrote it (CRM comments)")
    async def author_user(self, info: strawberry.Info[Any, Any]) -> UserType | None:
        if self.author_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.author_user_id)
        return UserType.from_model(row) if row else None

    @strawberry.field(description="The customer who wrote it (email comments)")
    async def author_contact(self, info: strawberry.Info[Any, Any]) -> ContactType | None:
        if self.author_contact_id is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.author_contact_id)
        return ContactType.from_model(row) if row else None

    @strawberry.field(
        description="Email delivery of this comment to the customer; null for internal and "
        "email comments and while the template is inactive"
    )
    async def delivery(self, info: strawberry.Info[Any, Any]) -> EmailDeliveryType | None:
        row = await info.context.loaders.outbound_by_comment.load(self.row_id)
        return EmailDeliveryType.from_model(row) if row else None

    @strawberry.field(description="Files that came with this comment (email or upload)")
    async def attachments(self, info: strawberry.Info[Any, Any]) -> list[AttachmentType]:
        rows = await shared(info.context.loaders.attachments_by_comment.load(self.row_id))
        return [AttachmentType.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: models.Comment) -> CommentType:
        return cls(id=strawberry.ID(str(m.id)), body=m.body, source=m.source, internal=m.internal,
                   created_at=m.created_at, quoted_text=m.quoted_text, ticket_id=m.ticket_id,  # type: ignore[attr-defined]
                   author_user_id=m.author_user_id, author_contact_id=m.author_contact_id,  # type: ignore[attr-defined]
                   row_id=m.id)


@strawberry.type(name="Ticket", description="A customer's case")
class TicketType:
    id: strawberry.ID
    number: str
    title: str
    description: str
    status: TicketStatusEnum  # type: ignore[valid-type]
    priority: TicketPriorityEnum  # type: ignore[valid-type]
    category: str | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[int]
    contact_id: strawberry.Private[int | None]
    account_id: strawberry.Private[int | None]
    assignee_id: strawberry.Private[int | None]

    @strawberry.field
    async def contact(self, info: strawberry.Info[Any, Any]) -> ContactType | None:
        if self.contact_id is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.contact_id)
        return ContactType.from_model(row) if row else None

    @strawberry.field
    async def account(self, info: strawberry.Info[Any, Any]) -> AccountType | None:
        if self.account_id is None:
            return None
        row = await info.context.loaders.account_by_id.load(self.account_id)
        return AccountType.from_model(row) if row else None

    @strawberry.field
    async def assignee(self, info: strawberry.Info[Any, Any]) -> UserType | None:
        if self.assignee_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.assignee_id)
        return UserType.from_model(row) if row else None

    @strawberry.field(description=(
        f"Comments, oldest first, at most {MAX_COMMENTS} per request: `first: n` (after "
        f"`offset` comments) or `last: n` (the n newest); without either, the first "
        f"{MAX_COMMENTS}. `commentCount` says how many there are."))
    async def comments(self, info: strawberry.Info[Any, Any], first: int | None = None,
                       last: int | None = None, offset: int = 0,
                       include_internal: bool = True) -> list[CommentType]:
        for name, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= MAX_COMMENTS:
                raise PublicError(f"{name} must be between 0 and {MAX_COMMENTS}")
        if first is not None and last is not None:
            raise PublicError("Give first or last, not both")
        if offset < 0:
            raise PublicError("offset must not be negative")
        rows = await self._comment_rows(info, include_internal)
        if last is not None:
            return [CommentType.from_model(r) for r in (rows[-last:] if last else [])]
        size = MAX_COMMENTS if first is None else first
        return [CommentType.from_model(r) for r in rows[offset:offset + size]]

    @strawberry.field(description="How many comments the ticket has (as `comments` counts them)")
    async def comment_count(self, info: strawberry.Info[Any, Any],
                            include_internal: bool = True) -> int:
        return len(await self._comment_rows(info, include_internal))

    async def _comment_rows(self, info: strawberry.Info[Any, Any],
                            include_internal: bool) -> list[models.Comment]:
        rows: list[models.Comment] = await shared(
            info.context.loaders.comments_by_ticket.load(self.row_id))
        return rows if include_internal else [r for r in rows if not r.internal]

    @strawberry.field(description=(
        "Every file of the ticket, oldest first: its first message's (commentId null) and "
        "its comments'"))
    async def attachments(self, info: strawberry.Info[Any, Any]) -> list[AttachmentType]:
        rows = await shared(info.context.loaders.attachments_by_ticket.load(self.row_id))
        return [AttachmentType.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, m: models.Ticket) -> TicketType:
        return cls(id=strawberry.ID(str(m.id)), number=m.number, title=m.title,
                   description=m.description, status=m.status, priority=m.priority,
                   category=m.category, created_at=m.created_at, updated_at=m.updated_at,
                   row_id=m.id, contact_id=m.contact_id, account_id=m.account_id,  # type: ignore[attr-defined]
                   assignee_id=m.assignee_id)  # type: ignore[attr-defined]


def shared(future: Awaitable[T]) -> Awaitable[T]:
    """A per-request loader's future, shielded: several fields await one, and when
    graphql-core cancels a field (because a sibling failed) the shared future must not be
    cancelled with it, or every other field awaiting it ends in CancelledError."""
    return asyncio.shield(future)


@strawberry.input
class CreateTicketInput:
    title: str
    description: str = ""
    status: TicketStatusEnum | None = None  # type: ignore[valid-type]
    priority: TicketPriorityEnum | None = None  # type: ignore[valid-type]
    category: str | None = None
    assignee_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None


@strawberry.input
class UpdateTicketInput:
    title: str | None = None
    description: str | None = None
    status: TicketStatusEnum | None = None  # type: ignore[valid-type]
    priority: TicketPriorityEnum | None = None  # type: ignore[valid-type]
    category: str | None = None
    assignee_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None


@strawberry.input
class TicketFilter:
    status: list[TicketStatusEnum] | None = None  # type: ignore[valid-type]
    assignee_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None
    search: str | None = strawberry.field(default=None, description="Text in the title or number")


@strawberry.type
class TicketPayload:
    ticket: TicketType


@strawberry.type
class CommentPayload:
    comment: CommentType


TicketResult = Annotated[
    TicketPayload | ValidationError | NotFoundError, strawberry.union("TicketResult")
]
AddCommentResult = Annotated[
    CommentPayload | ValidationError | NotFoundError, strawberry.union("AddCommentResult")
]
