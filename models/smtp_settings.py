from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from .. import crypto
from .fields import LabelledEnum, labelled
from .scanner import Encryption

if TYPE_CHECKING:
    from .oauth_account import OAuthAccount


class SmtpAuth(LabelledEnum):
    NONE = ("none", "None")
    PASSWORD = ("password", "Username and password")
    MICROSOFT_OAUTH = ("microsoft_oauth", "Microsoft OAuth (XOAUTH2)")
    MICROSOFT_APP_ONLY = ("microsoft_app_only", "Microsoft app-only (XOAUTH2, SMTP.SendAsApp)")
    GOOGLE_OAUTH = ("google_oauth", "Google OAuth (XOAUTH2)")


class SmtpSettings(Model):
    """The single outgoing-mail configuration (one row)."""

    id = fields.IntField(primary_key=True)
    host = labelled(fields.CharField(max_length=253, default="", description="SMTP server"), "Host")
    port = labelled(
        fields.IntField(
            null=True, description="Empty: 465 for SSL/TLS, 587 for STARTTLS, 25 for none"
        ),
        "Port",
    )
    security = labelled(
        fields.CharEnumField(
            Encryption,
            default=Encryption.STARTTLS,
            description="SSL/TLS on connect, STARTTLS or none",
        ),
        "Security",
    )
    validate_certificate = labelled(
        fields.BooleanField(default=True, description="Refuse untrusted certificates"),
        "Certificate validation",
    )
    auth = labelled(
        fields.CharEnumField(
            SmtpAuth, default=SmtpAuth.PASSWORD, description="How to authenticate"
        ),
        "Authentication",
    )
    username = labelled(
        fields.CharField(max_length=320, default="", description="Login name"), "Username"
    )
    password_encrypted: str | None = fields.TextField(null=True)
    oauth_account: fields.ForeignKeyNullableRelation[OAuthAccount] = fields.ForeignKeyField(
        "models.OAuthAccount",
        related_name="smtp_settings",
        null=True,
        on_delete=fields.RESTRICT,
    )
    sender_address = labelled(
        fields.CharField(
            max_length=320,
            default="",
            description="Must be the address the scanner reads, or replies never come back",
        ),
        "Sender address",
    )
    sender_name = labelled(
        fields.CharField(max_length=200, default="", description="Name shown to customers"),
        "Sender name",
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_smtp_settings"

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, password: str | None) -> None:
        self.password_encrypted = crypto.encrypt_optional(password)

    def get_password(self) -> str | None:
        return crypto.decrypt_optional(self.password_encrypted)

    @property
    def effective_port(self) -> int:
        if self.port:
            return int(self.port)
        return {Encryption.SSL: 465, Encryption.STARTTLS: 587}.get(self.security, 25)
