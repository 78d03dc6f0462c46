from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import labelled


def normalize_email(address: str) -> str:
    """Contacts are unique by address case-insensitively (RFC 5321 local parts rarely differ
    by case)."""
    return address.strip().casefold()


class Contact(Model):
    """A customer. Found by email address when mail comes in."""

    id = fields.IntField(primary_key=True)
    name = labelled(fields.CharField(max_length=200, description="Full name"), "Name")
    email = labelled(fields.CharField(max_length=320, description="Email address"), "Email")
    email_normalized = fields.CharField(max_length=320, unique=True)
    phone = labelled(
        fields.CharField(max_length=50, null=True, description="Phone number"), "Phone"
    )
    account: fields.ForeignKeyNullableRelation[Account] = labelled(fields.ForeignKeyField(
        "models.Account", related_name="contacts", null=True, on_delete=fields.SET_NULL,
        description="Organization the contact belongs to"), "Account")
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was created"), "Created"
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_contact"

    # Any: pass Tortoise's own arguments (using_db, update_fields, ...) through unchanged.
    async def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_normalized = normalize_email(self.email)
        await super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


from .account import Account  # noqa: E402
