"""Microsoft 365 without a user sign-in: the app's own client credentials (app-only).

Organisations that will not tie a shared support mailbox to one employee's sign-in grant
the app registration the application permissions `IMAP.AccessAsApp` (and `SMTP.SendAsApp`)
of "Office 365 Exchange Online", with admin consent, and give its service principal access
to the mailbox in Exchange Online (New-ServicePrincipal, Add-MailboxPermission). The app
then asks for a token with msal's client-credentials flow, scope
https://outlook.office365.com/.default, and logs in with XOAUTH2 as the mailbox address.

The msal app is kept per app registration (client ID, tenant, secret), so msal's token
cache serves the same token until 5 minutes before it expires; a changed setting builds a
new app. There is no account row and nothing to re-authorize: every failure names what to
fix (tenant, client ID or secret, the missing permission, the mailbox permission).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from typing import Any

import jwt
import msal

from ...models import OAuthAppSettings, OAuthProvider
from ..errors import ErrorCode, OAuthError
from .microsoft import build_app, first_line
from .tokens import get_app_settings

__all__ = ["APP_ONLY_SCOPES", "IMAP_ROLE", "SMTP_ROLE", "app_only_token", "forget_apps",
           "mailbox_refused"]

logger = logging.getLogger(__name__)

APP_ONLY_SCOPES = ["https://outlook.office365.com/.default"]
IMAP_ROLE = "IMAP.AccessAsApp"
SMTP_ROLE = "SMTP.SendAsApp"
_ALIASES = {"common", "organizations", "consumers"}

_lock = threading.Lock()
_cached: tuple[tuple[str, ...], msal.ConfidentialClientApplication] | None = None


def forget_apps() -> None:
    """Drop the kept msal app and its tokens (tests install a new fake authority)."""
    global _cached
    with _lock:
        _cached = None


def _app(settings: OAuthAppSettings) -> msal.ConfidentialClientApplication:
    """The msal app for these settings (blocking on first use: OIDC discovery)."""
    global _cached
    secret = settings.get_client_secret() or ""
    key = (settings.client_id, settings.tenant, settings.authority_host,
           hashlib.sha256(secret.encode()).hexdigest())
    with _lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, build_app(settings))
        return _cached[1]


def _problem(result: dict[str, Any], settings: OAuthAppSettings) -> str:
    codes = set(result.get("error_codes") or [])
    description = first_line(result.get("error_description") or "") or result.get("error", "")
    if codes & {7000215, 7000222}:
        return ("the client secret is wrong or has expired: create a new one under "
                "Certificates & secrets and save it in the Microsoft app settings "
                f"({description})")
    if codes & {700016}:
        return (f"no app with the client ID {settings.client_id} exists in the tenant "
                f"{settings.tenant}: check the Application (client) ID and the Directory "
                f"(tenant) ID ({description})")
    if codes & {90002, 90023}:
        return (f"Microsoft does not know the tenant {settings.tenant}: check the Directory "
                f"(tenant) ID ({description})")
    return description or "unknown error"


def _acquire(settings: OAuthAppSettings) -> str:
    result: dict[str, Any] = _app(settings).acquire_token_for_client(scopes=APP_ONLY_SCOPES)
    if "access_token" not in result:
        raise OAuthError("Microsoft refused the app-only token: " + _problem(result, settings))
    return str(result["access_token"])


def _roles(token: str) -> set[str] | None:
    """The application permissions in the access token (None: not a readable JWT)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return {str(r) for r in claims.get("roles") or []}


async def app_only_token(role: str = IMAP_ROLE) -> str:
    """An app-only access token for Exchange Online that carries `role`.

    Raises OAuthError saying what to fix: the app settings (tenant, client ID, secret), or
    the missing application permission (code OAUTH_PERMISSION_MISSING).
    """
    try:
        return await _app_only_token(role)
    except OAuthError as exc:
        from .tokens import count_refresh_failure

        count_refresh_failure(exc, "microsoft_app_only")
        raise


async def _app_only_token(role: str) -> str:
    settings = await get_app_settings(OAuthProvider.MICROSOFT)
    if not settings.client_id or not settings.has_client_secret:
        raise OAuthError("Microsoft app-only access is not configured: set the client ID, "
                         "the tenant and a client secret in the Microsoft app settings",
                         code=ErrorCode.CONFIGURATION)
    if settings.tenant.strip().lower() in _ALIASES:
        raise OAuthError("App-only access needs your Directory (tenant) ID (or a domain such "
                         f"as contoso.onmicrosoft.com) in the Microsoft app settings, not "
                         f"{settings.tenant!r}", code=ErrorCode.CONFIGURATION)
    try:
        token = await asyncio.to_thread(_acquire, settings)
    except OAuthError:
        raise
    except Exception as exc:  # requests/socket errors inside msal
        logger.warning("app-only token request failed", exc_info=True)
        raise OAuthError(f"Could not reach Microsoft for an app-only token: {exc}") from exc
    roles = _roles(token)
    if roles is not None and role not in roles:
        granted = ", ".join(sorted(roles)) or "none"
        raise OAuthError(
            f"The app has no {role} permission (granted: {granted}). In the app registration "
            f"add API permissions, APIs my organization uses, Office 365 Exchange Online, "
            f"Application permissions, {role}, then grant admin consent.",
            code=ErrorCode.OAUTH_PERMISSION_MISSING)
    return token


def mailbox_refused(mailbox: str, detail: str) -> OAuthError:
    """The error for a login Exchange refused although the token carries the permission:
    the app's service principal has no access to this mailbox."""
    return OAuthError(
        f"Microsoft accepted the app's token but refused the mailbox {mailbox}: give the app's "
        "service principal access to it in Exchange Online PowerShell (New-ServicePrincipal, "
        f"then Add-MailboxPermission -Identity {mailbox} -User <service principal id> "
        "-AccessRights FullAccess); changes can take a while to apply. Also check that the "
        f"mailbox exists and allows IMAP/SMTP AUTH (Get-CASMailbox {mailbox})",
        code=ErrorCode.OAUTH_MAILBOX_ACCESS, detail=detail)
