"""Microsoft OAuth tokens for IMAP/SMTP XOAUTH2, kept in an encrypted msal token cache.

`get_access_token(account_id)` is what the scan pipeline and the SMTP sender call before an
XOAUTH2 login. It restores the account's msal cache, lets msal hand out the cached access
token or refresh it (msal treats a token with under 5 minutes left as expired, so tokens are
refreshed before they run out), and writes the cache back **in its own committed write
before the token is used**: Microsoft rotates refresh tokens, so a refresh whose result is
not saved would strand the account.

Refreshes of one account are serialized (an asyncio lock in this process plus a row lock
`SELECT ... FOR UPDATE` on PostgreSQL for other workers), and the cache is re-read under the
lock, so two scanners sharing an account never refresh with the same, already-rotated token.

When Microsoft refuses the refresh (invalid_grant: consent revoked, password reset, token
expired), the account is marked REAUTH_NEEDED, the scanners using it show it in their
health, an "oauth" event is published and `ReauthorizationNeeded` is raised. Other accounts
and scanners are untouched.

Every msal app is built by `build_app()`, whose `http_client` argument is the test seam
(tests install a fake authority with `set_http_client()`); production uses msal's default
requests session.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from typing import Any, Protocol

import msal
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from .. import events
from ..models import MicrosoftAccount, OAuthAccountStatus, OAuthAppSettings, Scanner
from .errors import OAuthError, ReauthorizationNeeded

logger = logging.getLogger(__name__)

# Delegated Exchange Online permissions. msal adds openid, profile and offline_access itself
# and refuses them here ("reserved scopes"); offline_access is what yields a refresh token.
SCOPES = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
]
CALLBACK_PATH = "/oauth/microsoft/callback"
OAUTH_CHANNEL = "oauth"
REAUTH_ERROR_PREFIX = "Re-authorization needed"  # starts Scanner.last_error (health)
HTTP_TIMEOUT_SECONDS = 30
# invalid_grant covers revoked consent, password reset and expired refresh tokens;
# interaction_required means MFA/conditional access now wants the user in a browser.
_REAUTH_ERRORS = {"invalid_grant", "interaction_required", "consent_required"}


class HttpClient(Protocol):
    """What msal needs from an HTTP client (a requests.Session has this shape)."""

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any: ...

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **kwargs: Any) -> Any: ...

    def close(self) -> None: ...


_http_client: HttpClient | None = None
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def set_http_client(client: HttpClient | None) -> HttpClient | None:
    """Install the HTTP client every msal app uses (None: msal's requests session).

    Returns the previous one so a test fixture can restore it.
    """
    global _http_client
    previous, _http_client = _http_client, client
    return previous


def redirect_url(public_url: str) -> str:
    """The redirect URI to register in Azure: MAILSCANNER_PUBLIC_URL + the callback path."""
    return public_url.rstrip("/") + CALLBACK_PATH


def build_app(app_settings: OAuthAppSettings, *, token_cache: msal.TokenCache | None = None,
              http_client: HttpClient | None = None) -> msal.ConfidentialClientApplication:
    """The one factory for msal apps. Blocking (OIDC discovery): call it in a thread.

    The authority is `authority_host/tenant`, e.g. https://login.microsoftonline.com/common.
    """
    secret = app_settings.get_client_secret()
    if not app_settings.client_id or not secret:
        raise OAuthError("Microsoft OAuth is not configured: set the client ID and secret")
    authority = f"{app_settings.authority_host.rstrip('/')}/{app_settings.tenant or 'common'}"
    try:
        return msal.ConfidentialClientApplication(
            app_settings.client_id, client_credential=secret, authority=authority,
            token_cache=token_cache, http_client=http_client or _http_client,
            timeout=HTTP_TIMEOUT_SECONDS)
    except ValueError as exc:  # bad authority URL or tenant
        raise OAuthError(f"Microsoft OAuth settings are invalid: {exc}") from None


async def get_app_settings() -> OAuthAppSettings:
    """The single OAuthAppSettings row (created empty on first use)."""
    row = await OAuthAppSettings.first()
    if row is None:
        row = await OAuthAppSettings.create()
    return row


def _lock_for(account_id: int) -> asyncio.Lock:
    # asyncio locks belong to one event loop; key them by loop so tests and workers with
    # several loops never share one.
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(account_id, asyncio.Lock())


def _acquire_silent(app_settings: OAuthAppSettings, cache: msal.SerializableTokenCache,
                    home_account_id: str) -> dict[str, Any] | None:
    """Blocking: the cached token, or a refreshed one, or msal's error dict (None: no account)."""
    app = build_app(app_settings, token_cache=cache)
    account = next((a for a in app.get_accounts() if a.get("home_account_id") == home_account_id),
                   None)
    if account is None:
        return None
    result: dict[str, Any] | None = app.acquire_token_silent_with_error(SCOPES, account)
    return result


async def get_access_token(account_id: int) -> str:
    """An access token for XOAUTH2 as the account (IMAP and SMTP), refreshed when due.

    Raises ReauthorizationNeeded when Microsoft refuses to refresh (the account is marked,
    its scanners show it, an event is published), OAuthError for other failures
    (not configured, Microsoft unreachable: retry later).

    Example::

        token = await get_access_token(scanner.oauth_account_id)
        client.oauth2_login(scanner.login_user, token)
    """
    for attempt in (1, 2):
        async with _lock_for(account_id):
            result, cache_used = await _locked_refresh(account_id)
        if result and "access_token" in result:
            token: str = result["access_token"]
            return token
        error = (result or {}).get("error", "no_refresh_token")
        description = (result or {}).get("error_description") or "no refresh token is stored"
        if error not in _REAUTH_ERRORS and result is not None:
            logger.warning("token refresh for account %s failed: %s", account_id, error)
            raise OAuthError(
                f"Microsoft refused the token refresh ({error}): {_reason(description)}")
        # Safety net where nothing serialized us (SQLite shared by several processes): if
        # another worker saved a new cache meanwhile, our refresh token was simply stale.
        current = await MicrosoftAccount.filter(id=account_id).first()
        if attempt == 1 and current is not None and current.token_cache_encrypted != cache_used:
            logger.info("account %s was refreshed by another worker; retrying", account_id)
            continue
        reason = _reason(description)
        await mark_reauthorization_needed(account_id, reason)
        raise ReauthorizationNeeded(reason)
    raise AssertionError("unreachable")  # pragma: no cover


async def _locked_refresh(account_id: int) -> tuple[dict[str, Any] | None, str]:
    """Read the account and let msal answer; returns msal's result and the cache it used."""
    if _has_row_locks():
        async with in_transaction() as conn:
            # Row lock: another worker refreshing this account waits here, then re-reads.
            account = await (MicrosoftAccount.filter(id=account_id).select_for_update()
                             .using_db(conn).get_or_none())
            return await _refresh(account_id, account, conn)
        # Committed on exit: a rotated refresh token is saved before the token is used.
    # SQLite: the embedded mode is one process and the asyncio lock serializes it; a
    # transaction here would block every other query during the call to Microsoft.
    account = await MicrosoftAccount.get_or_none(id=account_id)
    return await _refresh(account_id, account, None)


def _has_row_locks() -> bool:
    return bool(Tortoise.get_connection("default").capabilities.dialect == "postgres")


async def _refresh(account_id: int, account: MicrosoftAccount | None,
                   conn: BaseDBAsyncClient | None) -> tuple[dict[str, Any] | None, str]:
    """msal's answer for the account (and the cache it started from); saves the cache at
    once when msal changed it (a refresh rotates the refresh token)."""
    if account is None:
        raise OAuthError(f"Microsoft account #{account_id} no longer exists")
    if account.status == OAuthAccountStatus.REAUTH_NEEDED:
        raise ReauthorizationNeeded(account.status_reason or "re-authorization needed")
    cache_used = account.token_cache_encrypted
    app_settings = await get_app_settings()
    cache = msal.SerializableTokenCache()
    cache.deserialize(account.get_token_cache() or None)
    try:
        result = await asyncio.to_thread(_acquire_silent, app_settings, cache,
                                         account.home_account_id)
    except OAuthError:
        raise
    except Exception as exc:  # requests/socket errors from msal: transient
        logger.warning("token refresh for account %s failed", account_id, exc_info=True)
        raise OAuthError(f"Could not reach Microsoft to refresh the token: {exc}") from exc
    # Only a success is saved: msal also touches the cache on errors, and writing that back
    # could overwrite a newer cache another worker just saved.
    if cache.has_state_changed and result and "access_token" in result:
        account.set_token_cache(cache.serialize())
        account.last_refresh_at = dt.datetime.now(dt.UTC)
        await account.save(
            using_db=conn, update_fields=["token_cache_encrypted", "last_refresh_at"]
        )
    return result, cache_used


def _reason(description: str) -> str:
    # Microsoft appends trace/correlation ids on later lines; the first line is the message.
    text = description.strip().splitlines()[0].rstrip(".") if description.strip() else ""
    return text or "unknown reason"


async def mark_reauthorization_needed(account_id: int, reason: str) -> None:
    """Mark the account, show it on every scanner using it, and publish an "oauth" event."""
    async with in_transaction():
        account = await MicrosoftAccount.get_or_none(id=account_id)
        if account is None:
            return
        account.status = OAuthAccountStatus.REAUTH_NEEDED
        account.status_reason = reason
        await account.save(update_fields=["status", "status_reason", "updated_at"])
        scanner_ids = await Scanner.filter(oauth_account_id=account_id).values_list("id", flat=True)
        await Scanner.filter(oauth_account_id=account_id).update(
            last_error=f"{REAUTH_ERROR_PREFIX} for {account.email}: {reason}")
    logger.warning("Microsoft account %s (%s) needs re-authorization: %s",
                   account_id, account.email, reason)
    await events.publish(OAUTH_CHANNEL, {
        "kind": "reauthorization_needed", "account_id": account_id, "email": account.email,
        "reason": reason, "scanner_ids": list(scanner_ids)})
