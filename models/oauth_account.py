from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .. import crypto
from .fields import LabelledEnum, labelled


class OAuthAccountStatus(LabelledEnum):
    OK = ("ok", "Authorized")
    REAUTH_NEEDED = ("reauth_needed", "Re-authorization needed")


class MicrosoftAccount(Model):
    """An account authorized through Microsoft's login, its msal token cache is encrypted."""

    id = fields.IntField(primary_key=True)
    email = labelled(
        fields.CharField(max_length=320, description="The account that signed in"), "Account"
    )
    home_account_id = fields.CharField(max_length=300, unique=True)
    token_cache_encrypted = fields.TextField(default="")
    status = labelled(
        fields.CharEnumField(
            OAuthAccountStatus,
            default=OAuthAccountStatus.OK,
            description="Whether tokens can be refreshed",
        ),
        "Status",
    )
    status_reason: str | None = labelled(
        fields.TextField(null=True, description="Why re-authorization is needed"), "Reason"
    )
    last_refresh_at = fields.DatetimeField(null=True)
    created_at = labelled(
        fields.DatetimeField(auto_now_add=True, description="When it was authorized"),
        "Authorized at",
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_microsoft_account"

    def set_token_cache(self, serialized: str) -> None:
        self.token_cache_encrypted = crypto.encrypt(serialized)

    def get_token_cache(self) -> str:
        return crypto.decrypt(self.token_cache_encrypted) if self.token_cache_encrypted else ""
