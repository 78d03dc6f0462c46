from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .fields import LabelledEnum, labelled


class Role(LabelledEnum):
    ADMIN = ("admin", "Administrator")
    AGENT = ("agent", "Agent")


class User(Model):
    """A CRM agent or admin: assignee of tickets and author of CRM comments."""

    id = fields.IntField(primary_key=True)
    name = labelled(
        fields.CharField(max_length=200, description="Full name shown on comments"), "Name"
    )
    email = labelled(
        fields.CharField(max_length=320, null=True, description="Work email address"), "Email"
    )
    role = labelled(
        fields.CharEnumField(Role, default=Role.AGENT, description="What the user may do"), "Role"
    )
    active = labelled(
        fields.BooleanField(default=True, description="Inactive users cannot log in"), "Active"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ms_user"

    def __str__(self) -> str:
        return self.name
