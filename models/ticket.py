from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from .fields import LabelledEnum, labelled
from .sequence import Sequence

if TYPE_CHECKING:
    from .account import Account
    from .contact import Contact
    from .user import User


class TicketStatus(LabelledEnum):
    OPEN = ("open", "Open")
    IN_PROGRESS = ("in_progress", "In Progress")
    WAIT_FOR_RESPONSE = ("wait_for_response", "Wait For Response")
    CLOSED = ("closed", "Closed")


class TicketPriority(LabelledEnum):
    LOW = ("low", "Low")
    NORMAL = ("normal", "Normal")
    HIGH = ("high", "High")
    URGENT = ("urgent", "Urgent")


class Ticket(Model):
    """A customer's case. Numbered with a configurable prefix: TT1, TT2, ..."""

    id = fields.IntField(primary_key=True)
    number = labelled(
        fields.CharField(
            max_length=32, unique=True, description="Ticket number quoted in every email subject"
        ),
        "Ticket number",
    )
    title = labelled(
        fields.CharField(max_length=998, description="Short summary (the first mail's subject)"),
        "Title",
    )
    description = labelled(
        fields.TextField(default="", description="The customer's first message"), "Description"
    )
    status = labelled(fields.CharEnumField(
        TicketStatus, default=TicketStatus.OPEN, description="Where the ticket stands"), "Status")
    priority = labelled(fields.CharEnumField(
        TicketPriority, default=TicketPriority.NORMAL, description="How urgent it is"), "Priority")
    category = labelled(
        fields.CharField(max_length=100, null=True, description="Free category, e.g. Billing"),
        "Category",
    )
    assignee: fields.ForeignKeyNullableRelation[User] = labelled(fields.ForeignKeyField(
        "models.User", related_name="assigned_tickets", null=True, on_delete=fields.SET_NULL,
        description="Agent responsible for the ticket"), "Assignee")
    contact: fields.ForeignKeyNullableRelation[Contact] = labelled(fields.ForeignKeyField(
        "models.Contact", related_name="tickets", null=True, on_delete=fields.SET_NULL,
        description="Customer who raised it"), "Contact")
    account: fields.ForeignKeyNullableRelation[Account] = labelled(fields.ForeignKeyField(
        "models.Account", related_name="tickets", null=True, on_delete=fields.SET_NULL,
        description="Customer's organization"), "Account")
    source_message_id = fields.CharField(max_length=998, null=True, db_index=True)
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was opened"), "Created"
    )
    updated_at = labelled(fields.DatetimeField(auto_now=True, description="Last change"), "Updated")

    class Meta:
        table = "ms_ticket"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    async def allocate_number(cls, prefix: str, connection: BaseDBAsyncClient) -> str:
        """Next ticket number; call inside the transaction that creates the ticket."""
        return f"{prefix}{await Sequence.next_value('ticket', connection)}"
