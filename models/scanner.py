from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from .. import crypto
from .fields import LabelledEnum, labelled
from .ticket import TicketStatus

if TYPE_CHECKING:
    from .oauth_account import OAuthAccount


class AuthType(LabelledEnum):
    PASSWORD = ("password", "Username and password")
    MICROSOFT_OAUTH = ("microsoft_oauth", "Microsoft OAuth")
    GOOGLE_OAUTH = ("google_oauth", "Google OAuth")


class MicrosoftAuth(LabelledEnum):
    """How a Microsoft OAuth scanner gets its tokens."""

    DELEGATED = ("delegated", "Delegated (an authorized user account)")
    APP_ONLY = ("app_only", "App-only (client credentials, no user sign-in)")


class Protocol(LabelledEnum):
    IMAP = ("imap", "IMAP")


class Encryption(LabelledEnum):
    SSL = ("ssl", "SSL/TLS")
    STARTTLS = ("starttls", "STARTTLS")
    NONE = ("none", "None")


class ScanType(LabelledEnum):
    UNREAD = ("unread", "Only unread")
    ALL_SINCE_LAST_SCAN = ("all_since_last_scan", "All since last scan")


class StartFrom(LabelledEnum):
    ALL = ("all", "All mail (the scan type decides)")
    NOW = ("now", "Only mail that arrives after activation")
    DATE = ("date", "Mail received on or after a date")


class Scanner(Model):
    """One mailbox read over IMAP. Saved inactive, activated once its rules exist."""

    id = fields.IntField(primary_key=True)
    name = labelled(
        fields.CharField(max_length=200, unique=True, description="Shown only inside the CRM"),
        "Name",
    )
    active = labelled(
        fields.BooleanField(
            default=False, description="Only active scanners are scanned on schedule"
        ),
        "Active",
    )
    auth_type = labelled(
        fields.CharEnumField(AuthType, default=AuthType.PASSWORD, description="How to log in"),
        "Auth type",
    )
    host = labelled(
        fields.CharField(
            max_length=253, description="IMAP server, e.g. imap.gmail.com or outlook.office365.com"
        ),
        "Host",
    )
    port = labelled(
        fields.IntField(null=True, description="Empty: 993 for SSL/TLS, 143 otherwise"), "Port"
    )
    protocol = labelled(
        fields.CharEnumField(Protocol, default=Protocol.IMAP, description="Mail access protocol"),
        "Type",
    )
    encryption = labelled(
        fields.CharEnumField(
            Encryption, default=Encryption.SSL, description="SSL/TLS on connect, STARTTLS, or none"
        ),
        "Encryption",
    )
    validate_certificate = labelled(
        fields.BooleanField(
            default=True, description="Recommended: refuse servers whose certificate is not trusted"
        ),
        "Certificate validation",
    )
    scan_type = labelled(
        fields.CharEnumField(
            ScanType,
            default=ScanType.UNREAD,
            description="Which mails to read (scanned mails are marked read)",
        ),
        "Scan type",
    )
    username = labelled(
        fields.CharField(
            max_length=320, default="", description="Login name, usually the email address"
        ),
        "Username",
    )
    password_encrypted: str | None = fields.TextField(null=True)
    address = labelled(
        fields.CharField(
            max_length=320,
            null=True,
            description="The address this mailbox receives mail for, when neither the login "
            "nor the mailbox name is that address (e.g. a login like 'helpdesk01'), so the SMTP "
            "settings check the sender against it",
        ),
        "Receives mail for",
    )
    mailbox_name = labelled(
        fields.CharField(
            max_length=320,
            null=True,
            description="OAuth: the mailbox to read, may be a shared mailbox the account can open",
        ),
        "Mailbox name",
    )
    microsoft_auth = labelled(
        fields.CharEnumField(
            MicrosoftAuth,
            default=MicrosoftAuth.DELEGATED,
            db_default=MicrosoftAuth.DELEGATED,
            description="Microsoft OAuth: a user's delegated sign-in, or the app's own "
            "permission (IMAP.AccessAsApp) without a user",
        ),
        "Microsoft sign-in",
    )
    oauth_account: fields.ForeignKeyNullableRelation[OAuthAccount] = labelled(
        fields.ForeignKeyField(
            "models.OAuthAccount",
            related_name="scanners",
            null=True,
            on_delete=fields.RESTRICT,
            description="OAuth: the authorized Microsoft or Google account used to log in",
        ),
        "Authorized account",
    )
    scan_interval_minutes = labelled(
        fields.IntField(default=5, description="Minutes between scheduled scans"), "Scan interval"
    )
    push = labelled(
        fields.BooleanField(
            default=True,
            db_default=True,  # scanners from before push are watched too
            description="Keep a connection open per folder (IMAP IDLE) so new mail is scanned "
            "within seconds (the interval still applies, as a safety net)",
        ),
        "Push",
    )
    start_from = labelled(
        fields.CharEnumField(
            StartFrom,
            default=StartFrom.ALL,
            db_default=StartFrom.ALL,  # for the rows that exist when the column is added
            description=(
                "Where scanning starts: all mail the scan type picks, only mail that arrives "
                "after activation, or mail received on or after the start date. Fixed once "
                "the scanner has been activated or scanned"
            ),
        ),
        "Start from",
    )
    start_date = labelled(
        fields.DateField(
            null=True,
            description="With start from date: mail received (IMAP INTERNALDATE) before it "
            "is never read",
        ),
        "Start date",
    )
    import_history_as = labelled(
        fields.CharEnumField(
            TicketStatus,
            null=True,
            description=(
                "Mail already in the mailbox when scanning starts becomes tickets with this "
                "status and its original dates, without notifying anyone (empty: like new mail)"
            ),
        ),
        "Import history as",
    )
    # Health, written by scans.
    last_scan_at = labelled(
        fields.DatetimeField(null=True, description="When the last scan started"), "Last scan"
    )
    last_success_at = labelled(
        fields.DatetimeField(null=True, description="When a scan last finished without error"),
        "Last success",
    )
    last_error = labelled(
        fields.TextField(null=True, description="Why the last scan failed"), "Last error"
    )
    failure_count = labelled(
        fields.IntField(default=0, description="Consecutive failed scans"), "Failures"
    )
    # The last finished scan's warnings (same shape as ScanRun.warnings); null: none.
    warnings: Any = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ms_scanner"
        ordering = ["id"]

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, password: str | None) -> None:
        """Write-only: the password is stored encrypted and never returned by the API."""
        self.password_encrypted = crypto.encrypt_optional(password)

    def get_password(self) -> str | None:
        return crypto.decrypt_optional(self.password_encrypted)

    @property
    def effective_port(self) -> int:
        if self.port:
            return int(self.port)
        return 993 if self.encryption == Encryption.SSL else 143

    @property
    def is_app_only(self) -> bool:
        return (
            self.auth_type == AuthType.MICROSOFT_OAUTH
            and self.microsoft_auth == MicrosoftAuth.APP_ONLY
        )

    @property
    def login_user(self) -> str:
        """XOAUTH2 logs in as the mailbox (shared mailboxes, app-only, Gmail's own address);
        password auth as the username."""
        if self.auth_type != AuthType.PASSWORD and self.mailbox_name:
            return self.mailbox_name
        return self.username

    def __str__(self) -> str:
        return self.name
