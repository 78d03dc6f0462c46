from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .. import crypto
from .fields import LabelledEnum, labelled


class OAuthProvider(LabelledEnum):
    """Who signs the account in; each has one module in transport/providers/."""

    MICROSOFT = ("microsoft", "Microsoft")
    GOOGLE = ("google", "Google")


class OAuthAccountStatus(LabelledEnum):
    OK = ("ok", "Authorized")
    REAUTH_NEEDED = ("reauth_needed", "Re-authorization needed")


class OAuthAccount(Model):
    """An account authorized through a provider's sign-in, its token data encrypted."""

    id = fields.IntField(primary_key=True)
    provider = labelled(
        fields.CharEnumField(
            OAuthProvider,
            default=OAuthProvider.MICROSOFT,
            db_default=OAuthProvider.MICROSOFT,  # rows from before Google was added
            description="Who signed the account in",
        ),
        "Provider",
    )
    email = labelled(
        fields.CharField(max_length=320, description="The account that signed in"), "Account"
    )
    # The provider's stable id of the account: msal's home_account_id, Google's `sub`.
    # Unique across providers too: an msal id is "<guid>.<guid>", a Google `sub` only digits.
    subject = fields.CharField(max_length=300, unique=True)
    # msal's serialized token cache (Microsoft) or {"refresh_token", ...} (Google), encrypted.
    token_data_encrypted = fields.TextField(default="")
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
        table = "ms_oauth_account"

    def set_token_data(self, serialized: str) -> None:
        self.token_data_encrypted = crypto.encrypt(serialized)

    def get_token_data(self) -> str:
        return crypto.decrypt(self.token_data_encrypted) if self.token_data_encrypted else ""
