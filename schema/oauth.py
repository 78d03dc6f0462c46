"""Microsoft OAuth: the Azure app registration, authorizations and authorized accounts.

The client secret is input-only: the output says `hasClientSecret`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

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


@strawberry.type(
    name="MicrosoftAccount", description="A Microsoft account authorized for IMAP/SMTP"
)
class MicrosoftAccountType:
    id: strawberry.ID
    email: str = strawberry.field(description="The account that signed in")
    status: OAuthAccountStatusEnum  # type: ignore[valid-type]
    status_reason: str | None = strawberry.field(description="Why re-authorization is needed")
    authorized_at: datetime
    last_refresh_at: datetime | None

    @classmethod
    def from_model(cls, m: models.MicrosoftAccount) -> MicrosoftAccountType:
        return cls(id=strawberry.ID(str(m.id)), email=m.email, status=m.status,
                   status_reason=m.status_reason, authorized_at=m.created_at,
                   last_refresh_at=m.last_refresh_at)


@strawberry.type(description="Open authorizationUrl in the browser before expiresAt")
class MicrosoftAuthorization:
    authorization_url: str = strawberry.field(description="Microsoft's sign-in page")
    expires_at: datetime


@strawberry.type(
    description="Microsoft OAuth cannot be used yet, or Microsoft could not be reached"
)
class OAuthSetupError:
    message: str


@strawberry.type
class RemoveMicrosoftAccountPayload:
    id: strawberry.ID


@strawberry.type(description="The account is still used; select another account there first")
class MicrosoftAccountInUseError:
    message: str
    scanners: list[ScannerType] = strawberry.field(description="Scanners logging in with it")
    used_by_smtp: bool = strawberry.field(description="Whether the SMTP settings send with it")


UpdateOAuthAppSettingsResult = Annotated[
    OAuthAppSettingsPayload | ValidationError,
    strawberry.union("UpdateOAuthAppSettingsResult")]
StartMicrosoftAuthorizationResult = Annotated[
    MicrosoftAuthorization | OAuthSetupError,
    strawberry.union("StartMicrosoftAuthorizationResult")]
RemoveMicrosoftAccountResult = Annotated[
    RemoveMicrosoftAccountPayload | MicrosoftAccountInUseError | NotFoundError,
    strawberry.union("RemoveMicrosoftAccountResult")]
