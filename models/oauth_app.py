from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from .. import crypto
from .fields import labelled
from .oauth_account import OAuthProvider


class OAuthAppSettings(Model):
    """A provider's app registration (Azure, Google Cloud) used to authorize accounts."""

    id = fields.IntField(primary_key=True)
    provider = fields.CharEnumField(
        OAuthProvider, default=OAuthProvider.MICROSOFT, db_default=OAuthProvider.MICROSOFT,
        unique=True)
    client_id = labelled(
        fields.CharField(max_length=200, default="", description="Application (client) ID"),
        "Client ID",
    )
    tenant = labelled(
        fields.CharField(
            max_length=200,
            default="common",
            description="Microsoft: Directory (tenant) ID, or common / organizations",
        ),
        "Tenant",
    )
    client_secret_encrypted: str | None = fields.TextField(null=True)
    authority_host = fields.CharField(max_length=300, default="https://login.microsoftonline.com")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_oauth_app"

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    def set_client_secret(self, secret: str | None) -> None:
        self.client_secret_encrypted = crypto.encrypt_optional(secret)

    def get_client_secret(self) -> str | None:
        return crypto.decrypt_optional(self.client_secret_encrypted)


class OAuthFlow(Model):
    # The docstring's first line is the table comment, so it stays on one line.
    """A pending authorization (auth-code flow with PKCE), kept server-side until it expires."""

    id = fields.IntField(primary_key=True)
    provider = fields.CharEnumField(
        OAuthProvider, default=OAuthProvider.MICROSOFT, db_default=OAuthProvider.MICROSOFT)
    state = fields.CharField(max_length=200, unique=True)
    flow_encrypted = fields.TextField()
    expires_at = fields.DatetimeField()
    created_by_id = fields.IntField(null=True)
    extra: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ms_oauth_flow"
