"""Resending a comment's email: the refusal a client can switch on."""
from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from .enums import DeliveryStatusEnum
from .errors import NotFoundError
from .ticket import CommentPayload


@strawberry.enum(description="Why a comment's email cannot be resent now")
class ResendRefusal(Enum):
    ALREADY_SENT = "already_sent"  # the server accepted it; a bounce would make it BOUNCED
    IN_PROGRESS = "in_progress"  # queued or being sent (also: another resend won the race)
    NOT_EMAILED = "not_emailed"  # internal, from email, or nobody could receive it
    NO_RECIPIENT = "no_recipient"  # the ticket has nobody to send it to now


@strawberry.type(description="The email was not queued again; the delivery is unchanged")
class ResendRefusedError:
    message: str
    code: ResendRefusal
    status: DeliveryStatusEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="The delivery's current status")


ResendCommentEmailResult = Annotated[
    CommentPayload | NotFoundError | ResendRefusedError,
    strawberry.union("ResendCommentEmailResult"),
]
