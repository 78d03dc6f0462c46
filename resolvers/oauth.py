"""Microsoft OAuth: app registration settings, "Make new authorization", authorized accounts.

All admin only. A resolver never talks to Microsoft except `startMicrosoftAuthorization`,
which needs msal's OIDC discovery to build the login URL (no tokens are involved there).
"""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import strawberry
from tortoise.exceptions import IntegrityError

from .. import models
from ..schema.errors import ErrorCode, InputErrors
from ..schema.oauth import (
    MicrosoftAccountInUseError,
    MicrosoftAccountType,
    MicrosoftAuthorization,
    OAuthAppSettingsInput,
    OAuthAppSettingsPayload,
    OAuthAppSettingsType,
    OAuthSetupError,
    RemoveMicrosoftAccountPayload,
    RemoveMicrosoftAccountResult,
    StartMicrosoftAuthorizationResult,
    UpdateOAuthAppSettingsResult,
)
from ..schema.scanner import ScannerType
from ..transport.errors import OAuthError
from ..transport.oauth import SCOPES, get_app_settings, redirect_url
from ..transport.oauth_flow import start_authorization
from .common import get_or_none, not_found
from .context import Info
from .permissions import IsAdmin
from .validation import check_length

# A tenant is a GUID, a verified domain (contoso.onmicrosoft.com) or one of the aliases.
_TENANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,198}[A-Za-z0-9])?$")


def _settings_type(row: models.OAuthAppSettings, info: Info) -> OAuthAppSettingsType:
    return OAuthAppSettingsType.from_model(
        row, redirect_url=redirect_url(info.context.settings.public_url),
        scopes=[*SCOPES, "offline_access"])


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


@strawberry.type
class OAuthQueries:
    @strawberry.field(permission_classes=[IsAdmin],
                      description="The Azure app registration (the secret is never returned)")
    async def oauth_app_settings(self, info: Info) -> OAuthAppSettingsType:
        return _settings_type(await get_app_settings(), info)

    @strawberry.field(permission_classes=[IsAdmin],
                      description="Authorized Microsoft accounts a scanner or SMTP can use")
    async def microsoft_accounts(self, info: Info) -> list[MicrosoftAccountType]:
        rows = await models.MicrosoftAccount.all().order_by("email", "id")
        return [MicrosoftAccountType.from_model(r) for r in rows]


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
        row = await get_app_settings()
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
                         description="Make new authorization: returns Microsoft's sign-in URL")
    async def start_microsoft_authorization(self, info: Info) -> StartMicrosoftAuthorizationResult:
        try:
            start = await start_authorization(info.context.settings.public_url,
                                              created_by_id=info.context.user_id)
        except OAuthError as exc:
            return OAuthSetupError(message=str(exc))
        return MicrosoftAuthorization(authorization_url=start.authorization_url,
                                      expires_at=start.expires_at)

    @strawberry.mutation(permission_classes=[IsAdmin],
                         description="Forget an authorized account and its tokens")
    async def remove_microsoft_account(self, info: Info,
                                       id: strawberry.ID) -> RemoveMicrosoftAccountResult:
        account = await get_or_none(models.MicrosoftAccount, id)
        if account is None:
            return not_found("Microsoft account", id)
        scanners = await models.Scanner.filter(oauth_account_id=account.id).order_by("id")
        smtp = await models.SmtpSettings.filter(oauth_account_id=account.id).exists()
        if scanners or smtp:
            return _in_use(account, scanners, smtp)
        try:
            await account.delete()
        except IntegrityError:  # a scanner selected it meanwhile (on_delete=RESTRICT)
            scanners = await models.Scanner.filter(oauth_account_id=account.id).order_by("id")
            return _in_use(account, scanners, smtp)
        return RemoveMicrosoftAccountPayload(id=id)


def _in_use(account: models.MicrosoftAccount, scanners: list[models.Scanner],
            smtp: bool) -> MicrosoftAccountInUseError:
    users = [f"scanner {s.name!r}" for s in scanners] + (["the SMTP settings"] if smtp else [])
    return MicrosoftAccountInUseError(
        message=f"{account.email} is still used by {', '.join(users)}; select another "
                "account there first",
        scanners=[ScannerType.from_model(s) for s in scanners], used_by_smtp=smtp)
