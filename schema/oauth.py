"""OAuth (Microsoft, Google): app registrations, authorizations and authorized accounts.

Client secrets are input-only: the output says `hasClientSecret`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

import strawberry

from .. import models
from .enums import OAuthAccountStatusEnum
from .errors import NotFoundError, ValidationError
from .scanner import ScannerType


@strawberry.type(
    name="OAuthAppSettings",
    description="The Azure (Microsoft Entra) app registration used to authorize mailboxes",
)
class OAuthAppSettingsType:
    client_id: str = strawberry.field(description="Application (client) ID")
    tenant: str = strawberry.field(
        description="Directory (tenant) ID or domain, or common / organizations")
    has_client_secret: bool = strawberry.field(
        description="Whether a client secret is stored; it is never returned")
    authority_host: str = strawberry.field(
        description="Microsoft login host; https://login.microsoftonline.com"
        " unless a national cloud")
    redirect_url: str = strawberry.field(
        description="Register this redirect URI (platform 'Web') in the Azure app registration")
    scopes: list[str] = strawberry.field(
        description="Delegated permissions to grant the app (offline_access is added too)")

    @classmethod
    def from_model(cls, m: models.OAuthAppSettings, *, redirect_url: str,
                   scopes: list[str]) -> OAuthAppSettingsType:
        return cls(client_id=m.client_id, tenant=m.tenant, has_client_secret=m.has_client_secret,
                   authority_host=m.authority_host, redirect_url=redirect_url, scopes=scopes)


@strawberry.input(description="App registration fields; omitted fields keep their value")
class OAuthAppSettingsInput:
    client_id: str | None = None
    tenant: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Write-only; stored encrypted. An empty string removes it")
    authority_host: str | None = None


@strawberry.type
class OAuthAppSettingsPayload:
    settings: OAuthAppSettingsType


@strawberry.type
class _AccountFields:
    id: strawberry.ID
    email: str = strawberry.field(description="The account that signed in")
    status: OAuthAccountStatusEnum  # type: ignore[valid-type]
    status_reason: str | None = strawberry.field(description="Why re-authorization is needed")
    authorized_at: datetime
    last_refresh_at: datetime | None

    @classmethod
    def from_model(cls, m: models.OAuthAccount) -> Self:
        return cls(id=strawberry.ID(str(m.id)), email=m.email, status=m.status,
                   status_reason=m.status_reason, authorized_at=m.created_at,
                   last_refresh_at=m.last_refresh_at)


@strawberry.type(
    name="MicrosoftAccount", description="A Microsoft account authorized for IMAP/SMTP"
)
class MicrosoftAccountType(_AccountFields):
    pass


@strawberry.type(
    name="GoogleAccount",
    description="A Google (Gmail, Workspace) account authorized for IMAP/SMTP; it opens only "
    "its own mailbox",
)
class GoogleAccountType(_AccountFields):
    pass


@strawberry.type(description="Open authorizationUrl in the browser before expiresAt")
class MicrosoftAuthorization:
    authorization_url: str = strawberry.field(description="Microsoft's sign-in page")
    expires_at: datetime


@strawberry.type(description="Open authorizationUrl in the browser before expiresAt")
class GoogleAuthorization:
    authorization_url: str = strawberry.field(description="Google's sign-in page")
    expires_at: datetime


@strawberry.type(
    name="GoogleAppSettings",
    description="The Google Cloud OAuth client (type 'Web application') used to authorize "
    "Gmail and Google Workspace mailboxes",
)
class GoogleAppSettingsType:
    client_id: str = strawberry.field(description="OAuth client ID (...apps.googleusercontent.com)")
    has_client_secret: bool = strawberry.field(
        description="Whether a client secret is stored; it is never returned")
    redirect_url: str = strawberry.field(
        description="Add this as an authorized redirect URI of the OAuth client")
    scopes: list[str] = strawberry.field(description="Scopes the app asks for")

    @classmethod
    def from_model(cls, m: models.OAuthAppSettings, *, redirect_url: str,
                   scopes: list[str]) -> GoogleAppSettingsType:
        return cls(client_id=m.client_id, has_client_secret=m.has_client_secret,
                   redirect_url=redirect_url, scopes=scopes)


@strawberry.input(description="Google OAuth client fields; omitted fields keep their value")
class GoogleAppSettingsInput:
    client_id: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Write-only; stored encrypted. An empty string removes it")


@strawberry.type
class GoogleAppSettingsPayload:
    settings: GoogleAppSettingsType


@strawberry.type(
    description="Microsoft OAuth cannot be used yet, or Microsoft could not be reached"
)
class OAuthSetupError:
    message: str


@strawberry.type
class RemoveMicrosoftAccountPayload:
    id: strawberry.ID


@strawberry.type
class RemoveGoogleAccountPayload:
    id: strawberry.ID


@strawberry.type
class _InUseFields:
    message: str
    scanners: list[ScannerType] = strawberry.field(description="Scanners logging in with it")
    used_by_smtp: bool = strawberry.field(description="Whether the SMTP settings send with it")


@strawberry.type(description="The account is still used; select another account there first")
class MicrosoftAccountInUseError(_InUseFields):
    pass


@strawberry.type(description="The account is still used; select another account there first")
class GoogleAccountInUseError(_InUseFields):
    pass


UpdateOAuthAppSettingsResult = Annotated[
    OAuthAppSettingsPayload | ValidationError,
    strawberry.union("UpdateOAuthAppSettingsResult")]
StartMicrosoftAuthorizationResult = Annotated[
    MicrosoftAuthorization | OAuthSetupError,
    strawberry.union("StartMicrosoftAuthorizationResult")]
UpdateGoogleAppSettingsResult = Annotated[
    GoogleAppSettingsPayload | ValidationError,
    strawberry.union("UpdateGoogleAppSettingsResult")]
StartGoogleAuthorizationResult = Annotated[
    GoogleAuthorization | OAuthSetupError | NotFoundError,
    strawberry.union("StartGoogleAuthorizationResult")]
RemoveGoogleAccountResult = Annotated[
    RemoveGoogleAccountPayload | GoogleAccountInUseError | NotFoundError,
    strawberry.union("RemoveGoogleAccountResult")]
RemoveMicrosoftAccountResult = Annotated[
    RemoveMicrosoftAccountPayload | MicrosoftAccountInUseError | NotFoundError,
    strawberry.union("RemoveMicrosoftAccountResult")]
