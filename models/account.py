from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .fields import labelled


class Account(Model):
    """An organization the contacts belong to, matched to senders by email domain."""

    id = fields.IntField(primary_key=True)
    name = labelled(fields.CharField(max_length=200, description="Organization name"), "Name")
    domain = labelled(fields.CharField(
        max_length=253, null=True, unique=True,
        description="Email domain (e.g. acme.com), new contacts from it are linked here"), "Domain")
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was created"), "Created"
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_account"

    def __str__(self) -> str:
        return self.name
