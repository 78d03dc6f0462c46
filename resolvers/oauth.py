"""OAuth (Microsoft, Google): app registrations, "Make new authorization", authorized accounts.

All admin only. A resolver never talks to a provider except the start*Authorization
mutations, which may need the provider's discovery document to build the sign-in URL (no
tokens are involved there).
"""
from __future__ import annotations

import re
import uuid
from typing import NamedTuple
from urllib.parse import urlsplit

import strawberry
from tortoise.exceptions import IntegrityError

from .. import models
from ..models import OAuthProvider
from ..schema.errors import ErrorCode, InputErrors, NotFoundError
from ..schema.oauth import (
    GoogleAccountInUseError,
    GoogleAccountType,
    GoogleAppSettingsInput,
    GoogleAppSettingsPayload,
    GoogleAppSettingsType,
    GoogleAuthorization,
    MicrosoftAccountInUseError,
    MicrosoftAccountType,
    MicrosoftAuthorization,
    OAuthAppSettingsInput,
    OAuthAppSettingsPayload,
    OAuthAppSettingsType,
    OAuthSetupError,
    RemoveGoogleAccountPayload,
    RemoveGoogleAccountResult,
    RemoveMicrosoftAccountPayload,
    RemoveMicrosoftAccountResult,
    StartGoogleAuthorizationResult,
    StartMicrosoftAuthorizationResult,
    UpdateGoogleAppSettingsResult,
    UpdateOAuthAppSettingsResult,
)
from ..schema.scanner import ScannerType
from ..transport.errors import OAuthError
from ..transport.providers import provider
from ..transport.providers.flows import redirect_url, start_authorization
from ..transport.providers.tokens import get_app_settings
from .common import get_or_none, not_found
from .context import Info
from .permissions import IsAdmin
from .validation import check_length

# A tenant is a GUID, a verified domain (contoso.onmicrosoft.com) or one of the aliases.
_TENANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,198}[A-Za-z0-9])?$")
# Google OAuth client IDs: "<project number>-<random>.apps.googleusercontent.com".
_GOOGLE_CLIENT_ID = re.compile(r"^[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com$")


def _settings_type(row: models.OAuthAppSettings, info: Info) -> OAuthAppSettingsType:
    kind = OAuthProvider.MICROSOFT
    return OAuthAppSettingsType.from_model(
        row, redirect_url=redirect_url(kind, info.context.settings.public_url),
        scopes=provider(kind).scopes)


def _google_settings_type(row: models.OAuthAppSettings, info: Info) -> GoogleAppSettingsType:
    kind = OAuthProvider.GOOGLE
    return GoogleAppSettingsType.from_model(
        row, redirect_url=redirect_url(kind, info.context.settings.public_url),
        scopes=provider(kind).scopes)


def _validate(data: OAuthAppSettingsInput) -> InputErrors:
    errors = InputErrors()
    if data.client_id:
        try:
            uuid.UUID(data.client_id.strip())
        except ValueError:
            errors.add("input.clientId", ErrorCode.INVALID,
                       "The Application (client) ID is a GUID such as "
                       "11111111-2222-3333-4444-555555555555")
    if data.tenant is not None and not _TENANT.match(data.tenant.strip()):
        errors.add("input.tenant", ErrorCode.INVALID,
                   "Use the Directory (tenant) ID, a domain such as contoso.onmicrosoft.com, "
                   "or common / organizations")
    if data.authority_host is not None:
        parts = urlsplit(data.authority_host.strip())
        if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
            errors.add("input.authorityHost", ErrorCode.INVALID,
                       "An https URL without a path, such as https://login.microsoftonline.com")
    check_length(errors, "input.clientSecret", data.client_secret, 1000)
    return errors


def _validate_google(data: GoogleAppSettingsInput) -> InputErrors:
    errors = InputErrors()
    if data.client_id and not _GOOGLE_CLIENT_ID.match(data.client_id.strip()):
        errors.add("input.clientId", ErrorCode.INVALID,
                   "A Google OAuth client ID ends in .apps.googleusercontent.com, such as "
                   "123456789012-abc123.apps.googleusercontent.com")
    check_length(errors, "input.clientSecret", data.client_secret, 1000)
    return errors


@strawberry.type
class OAuthQueries:
    @strawberry.field(permission_classes=[IsAdmin],
                      description="The Azure app registration (the secret is never returned)")
    async def oauth_app_settings(self, info: Info) -> OAuthAppSettingsType:
        return _settings_type(await get_app_settings(OAuthProvider.MICROSOFT), info)

    @strawberry.field(permission_classes=[IsAdmin],
                      description="The Google OAuth client (the secret is never returned)")
    async def google_app_settings(self, info: Info) -> GoogleAppSettingsType:
        return _google_settings_type(await get_app_settings(OAuthProvider.GOOGLE), info)

    @strawberry.field(permission_classes=[IsAdmin],
                      description="Authorized Microsoft accounts a scanner or SMTP can use")
    async def microsoft_accounts(self, info: Info) -> list[MicrosoftAccountType]:
        rows = await models.OAuthAccount.filter(
            provider=OAuthProvider.MICROSOFT).order_by("email", "id")
        return [MicrosoftAccountType.from_model(r) for r in rows]

    @strawberry.field(permission_classes=[IsAdmin],
                      description="Authorized Google accounts a scanner or SMTP can use")
    async def google_accounts(self, info: Info) -> list[GoogleAccountType]:
        rows = await models.OAuthAccount.filter(
            provider=OAuthProvider.GOOGLE).order_by("email", "id")
        return [GoogleAccountType.from_model(r) for r in rows]


@strawberry.type
class OAuthMutations:
    @strawberry.mutation(name="updateOAuthAppSettings", permission_classes=[IsAdmin],
                         description="Set the Azure app registration (client ID, tenant, secret)")
    async def update_oauth_app_settings(
        self, info: Info, input: OAuthAppSettingsInput
    ) -> UpdateOAuthAppSettingsResult:
        errors = _validate(input)
        if errors.errors:
            return errors.as_result()
        row = await get_app_settings(OAuthProvider.MICROSOFT)
        if input.client_id is not None:
            row.client_id = input.client_id.strip()
        if input.tenant is not None:
            row.tenant = input.tenant.strip() or "common"
        if input.authority_host is not None:
            row.authority_host = input.authority_host.strip().rstrip("/")
        if input.client_secret is not None:
            row.set_client_secret(input.client_secret.strip() or None)
        await row.save()
        return OAuthAppSettingsPayload(settings=_settings_type(row, info))

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Set the Google OAuth client (client ID, secret)")
    async def update_google_app_settings(
        self, info: Info, input: GoogleAppSettingsInput
    ) -> UpdateGoogleAppSettingsResult:
        errors = _validate_google(input)
        if errors.errors:
            return errors.as_result()
        row = await get_app_settings(OAuthProvider.GOOGLE)
        if input.client_id is not None:
            row.client_id = input.client_id.strip()
        if input.client_secret is not None:
            row.set_client_secret(input.client_secret.strip() or None)
        await row.save()
        return GoogleAppSettingsPayload(settings=_google_settings_type(row, info))

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Make new authorization: returns Microsoft's sign-in URL")
    async def start_microsoft_authorization(self, info: Info) -> StartMicrosoftAuthorizationResult:
        try:
            start = await start_authorization(OAuthProvider.MICROSOFT,
                                              info.context.settings.public_url,
                                              created_by_id=info.context.user_id)
        except OAuthError as exc:
            return OAuthSetupError(message=str(exc))
        return MicrosoftAuthorization(authorization_url=start.authorization_url,
                                      expires_at=start.expires_at)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Make new authorization: returns Google's sign-in URL. With scannerId, "
        "the account that signs in must be that scanner's mailbox and is selected on it.")
    async def start_google_authorization(
        self, info: Info, scanner_id: strawberry.ID | None = None, login_hint: str | None = None
    ) -> StartGoogleAuthorizationResult:
        scanner = None
        if scanner_id is not None:
            scanner = await get_or_none(models.Scanner, scanner_id)
            if scanner is None:
                return not_found("Scanner", scanner_id)
        if login_hint is not None and len(login_hint) > 320:
            return OAuthSetupError(message="The login hint is an email address (320 characters "
                                   "at most)")
        try:
            start = await start_authorization(OAuthProvider.GOOGLE,
                                              info.context.settings.public_url,
                                              created_by_id=info.context.user_id,
                                              login_hint=login_hint, scanner=scanner)
        except OAuthError as exc:
            return OAuthSetupError(message=str(exc))
        return GoogleAuthorization(authorization_url=start.authorization_url,
                                   expires_at=start.expires_at)

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Forget an authorized Microsoft account and its tokens")
    async def remove_microsoft_account(self, info: Info,
                                       id: strawberry.ID) -> RemoveMicrosoftAccountResult:
        result = await _remove(OAuthProvider.MICROSOFT, id)
        if isinstance(result, NotFoundError):
            return result
        if result is not None:
            return MicrosoftAccountInUseError(message=result.message, scanners=result.scanners,
                                              used_by_smtp=result.used_by_smtp)
        return RemoveMicrosoftAccountPayload(id=id)

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Forget an authorized Google account and its tokens")
    async def remove_google_account(self, info: Info,
                                    id: strawberry.ID) -> RemoveGoogleAccountResult:
        result = await _remove(OAuthProvider.GOOGLE, id)
        if isinstance(result, NotFoundError):
            return result
        if result is not None:
            return GoogleAccountInUseError(message=result.message, scanners=result.scanners,
                                           used_by_smtp=result.used_by_smtp)
        return RemoveGoogleAccountPayload(id=id)


class _InUse(NamedTuple):
    message: str
    scanners: list[ScannerType]
    used_by_smtp: bool


async def _remove(kind: OAuthProvider, id: strawberry.ID) -> NotFoundError | _InUse | None:
    """Delete the account; the fields of an in-use error when something still uses it."""
    account = await get_or_none(models.OAuthAccount, id)
    label = provider(kind).label
    if account is None or account.provider != kind:
        return not_found(f"{label} account", id)
    scanners = await models.Scanner.filter(oauth_account_id=account.id).order_by("id")
    smtp = await models.SmtpSettings.filter(oauth_account_id=account.id).exists()
    if scanners or smtp:
        return _in_use(account, scanners, smtp)
    try:
        await account.delete()
    except IntegrityError:  # a scanner selected it meanwhile (on_delete=RESTRICT)
        scanners = await models.Scanner.filter(oauth_account_id=account.id).order_by("id")
        return _in_use(account, scanners, smtp)
    return None


def _in_use(account: models.OAuthAccount, scanners: list[models.Scanner], smtp: bool) -> _InUse:
    users = [f"scanner {s.name!r}" for s in scanners] + (["the SMTP settings"] if smtp else [])
    return _InUse(f"{account.email} is still used by {', '.join(users)}; select another "
                  "account there first", [ScannerType.from_model(s) for s in scanners], smtp)
