"""Access tokens for XOAUTH2 (IMAP and SMTP), from any provider's stored token data.

`get_access_token(account_id)` is what the scan pipeline, the SMTP sender and the push
watchers call before an XOAUTH2 login. It reads the account, lets its provider (see
base.Provider) hand out the stored access token or refresh it, and writes new token data
**in its own committed write before the token is used**: Microsoft rotates refresh
tokens, so a refresh whose result is not saved would strand the account.

Refreshes of one account are serialized (an asyncio lock in this process plus a row lock
`SELECT ... FOR UPDATE` on PostgreSQL for other workers), and the data is re-read under
the lock, so two scanners sharing an account never refresh with the same, already-rotated
token.

When the provider refuses the refresh in a way only a new sign-in fixes (revoked consent,
password reset, expired refresh token), the account is marked REAUTH_NEEDED, the scanners
using it show it in their health, an "oauth" event is published and
`ReauthorizationNeeded` is raised. Other refusals (a rotated client secret) and network
trouble raise `OAuthError` and leave the account as it is, to work again once fixed.
Other accounts and scanners are untouched either way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ... import events
from ...models import OAuthAccount, OAuthAccountStatus, OAuthAppSettings, OAuthProvider, Scanner
from ..errors import OAuthError, ReauthorizationNeeded
from .base import Provider, RefreshRefused

__all__ = [
    "OAUTH_CHANNEL",
    "REAUTH_ERROR_PREFIX",
    "get_access_token",
    "get_app_settings",
    "mark_reauthorization_needed",
]

logger = logging.getLogger(__name__)

OAUTH_CHANNEL = "oauth"
REAUTH_ERROR_PREFIX = "Re-authorization needed"  # starts Scanner.last_error (health)

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


async def get_app_settings(kind: OAuthProvider = OAuthProvider.MICROSOFT) -> OAuthAppSettings:
    """The provider's app registration row (created empty on first use)."""
    row = await OAuthAppSettings.get_or_none(provider=kind)
    if row is None:
        row, _ = await OAuthAppSettings.get_or_create(provider=kind)
    return row


def _provider(kind: OAuthProvider) -> Provider:
    from . import provider  # the registry imports every provider module

    return provider(kind)


def _lock_for(account_id: int) -> asyncio.Lock:
    # asyncio locks belong to one event loop; key them by loop so tests and workers with
    # several loops never share one.
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(account_id, asyncio.Lock())


async def get_access_token(account_id: int) -> str:
    """An access token for XOAUTH2 as the account (IMAP and SMTP), refreshed when due.

    Raises ReauthorizationNeeded when the provider refuses to refresh and only a new
    sign-in helps (the account is marked, its scanners show it, an event is published),
    OAuthError for other failures (not configured, client secret rotated, provider
    unreachable: fix or retry later).

    Example::

        token = await get_access_token(scanner.oauth_account_id)
        client.oauth2_login(scanner.login_user, token)
    """
    try:
        return await _get_access_token(account_id)
    except OAuthError as exc:
        provider = await OAuthAccount.filter(id=account_id).first().values_list(
            "provider", flat=True)
        count_refresh_failure(exc, str(getattr(provider, "value", provider or "unknown")))
        raise


def count_refresh_failure(exc: OAuthError, provider: str) -> None:
    """One failed refresh in the metrics, by provider and kind (never the reason text)."""
    from ...ops import metrics

    kind = "reauthorization_needed" if isinstance(exc, ReauthorizationNeeded) else "error"
    metrics.OAUTH_FAILURES.labels(provider, kind).inc()


async def _get_access_token(account_id: int) -> str:
    for attempt in (1, 2):
        try:
            async with _lock_for(account_id):
                return await _locked_refresh(account_id)
        except _Refused as refused:
            account, data_used, exc = refused.account, refused.data_used, refused.exc
        label = _provider(account.provider).label
        if not exc.reauth:
            logger.warning("token refresh for account %s failed: %s", account_id, exc.error)
            raise OAuthError(f"{label} refused the token refresh ({exc.error}): {exc.reason}")
        # Safety net where nothing serialized us (SQLite shared by several processes): if
        # another worker saved new token data meanwhile, our refresh token was simply stale.
        current = await OAuthAccount.filter(id=account_id).first()
        if attempt == 1 and current is not None and current.token_data_encrypted != data_used:
            logger.info("account %s was refreshed by another worker; retrying", account_id)
            continue
        await mark_reauthorization_needed(account_id, exc.reason)
        raise ReauthorizationNeeded(exc.reason, provider=label)
    raise AssertionError("unreachable")  # pragma: no cover


class _Refused(Exception):
    def __init__(self, account: OAuthAccount, data_used: str, exc: RefreshRefused) -> None:
        self.account, self.data_used, self.exc = account, data_used, exc


async def _locked_refresh(account_id: int) -> str:
    if _has_row_locks():
        async with in_transaction() as conn:
            # Row lock: another worker refreshing this account waits here, then re-reads.
            account = await (OAuthAccount.filter(id=account_id).select_for_update()
                             .using_db(conn).get_or_none())
            return await _refresh(account_id, account, conn)
        # Committed on exit: rotated token data is saved before the token is used.
    # SQLite: the embedded mode is one process and the asyncio lock serializes it; a
    # transaction here would block every other query during the call to the provider.
    account = await OAuthAccount.get_or_none(id=account_id)
    return await _refresh(account_id, account, None)


def _has_row_locks() -> bool:
    return bool(Tortoise.get_connection("default").capabilities.dialect == "postgres")


async def _refresh(account_id: int, account: OAuthAccount | None,
                   conn: BaseDBAsyncClient | None) -> str:
    """The provider's answer for the account; saves new token data at once."""
    if account is None:
        raise OAuthError(f"Authorized account #{account_id} no longer exists")
    provider = _provider(account.provider)
    if account.status == OAuthAccountStatus.REAUTH_NEEDED:
        raise ReauthorizationNeeded(account.status_reason or "re-authorization needed",
                                    provider=provider.label)
    data_used = account.token_data_encrypted
    app_settings = await get_app_settings(account.provider)
    provider.check_configured(app_settings)
    try:
        result = await asyncio.to_thread(provider.refresh, app_settings, account.subject,
                                         account.get_token_data())
    except RefreshRefused as exc:
        raise _Refused(account, data_used, exc) from None
    except OAuthError:
        raise
    except Exception as exc:  # requests/socket errors inside the provider's library
        logger.warning("token refresh for account %s failed", account_id, exc_info=True)
        raise OAuthError(
            f"Could not reach {provider.label} to refresh the token: {exc}") from exc
    if result.token_data is not None:
        account.set_token_data(result.token_data)
        account.last_refresh_at = dt.datetime.now(dt.UTC)
        await account.save(
            using_db=conn, update_fields=["token_data_encrypted", "last_refresh_at"])
    return result.access_token


async def mark_reauthorization_needed(account_id: int, reason: str) -> None:
    """Mark the account, show it on every scanner using it, and publish an "oauth" event."""
    async with in_transaction():
        account = await OAuthAccount.get_or_none(id=account_id)
        if account is None:
            return
        account.status = OAuthAccountStatus.REAUTH_NEEDED
        account.status_reason = reason
        await account.save(update_fields=["status", "status_reason", "updated_at"])
        scanner_ids = await Scanner.filter(oauth_account_id=account_id).values_list("id", flat=True)
        await Scanner.filter(oauth_account_id=account_id).update(
            last_error=f"{REAUTH_ERROR_PREFIX} for {account.email}: {reason}")
    logger.warning("%s account %s (%s) needs re-authorization: %s",
                   _provider(account.provider).label, account_id, account.email, reason)
    await events.publish(OAUTH_CHANNEL, {
        "kind": "reauthorization_needed", "account_id": account_id, "email": account.email,
        "provider": account.provider.value, "reason": reason, "scanner_ids": list(scanner_ids)})
