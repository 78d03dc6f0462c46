"""The "Make new authorization" round trip: admin -> provider's sign-in -> our callback.

1. `start_authorization()` asks the provider for its sign-in URL (PKCE, a random state),
   keeps what the callback needs server-side, encrypted, for FLOW_LIFETIME, keyed by the
   state, and returns the URL. Started for a scanner, the flow remembers it: the account
   that signs in must then be able to open that scanner's mailbox, and is selected on it.
2. The browser comes back to /oauth/<provider>/callback; `complete_authorization()` takes
   the flow for that state (single use: whoever deletes the row owns it; refused once
   expired, or when the state belongs to another provider), redeems the code and stores
   the account with its token data, encrypted, in one transaction. Every refusal raises
   AuthorizationFailed with a sentence for the admin, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from ... import crypto
from ...models import AuthType, OAuthAccount, OAuthAccountStatus, OAuthFlow, OAuthProvider, Scanner
from ..errors import OAuthError
from . import provider as provider_for
from .base import AuthorizationFailed, Authorized, Provider
from .tokens import REAUTH_ERROR_PREFIX, get_app_settings

__all__ = [
    "FLOW_LIFETIME",
    "AuthorizationFailed",
    "AuthorizationStart",
    "complete_authorization",
    "redirect_url",
    "start_authorization",
]

logger = logging.getLogger(__name__)

FLOW_LIFETIME = dt.timedelta(minutes=10)
T = TypeVar("T")
_SCANNER_AUTH = {OAuthProvider.MICROSOFT: AuthType.MICROSOFT_OAUTH,
                 OAuthProvider.GOOGLE: AuthType.GOOGLE_OAUTH}


@dataclass(frozen=True)
class AuthorizationStart:
    authorization_url: str
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def redirect_url(kind: OAuthProvider, public_url: str) -> str:
    """The redirect URI to register with the provider: MAILSCANNER_PUBLIC_URL + callback."""
    return public_url.rstrip("/") + provider_for(kind).callback_path


async def start_authorization(kind: OAuthProvider, public_url: str, *,
                              created_by_id: int | None = None, login_hint: str | None = None,
                              scanner: Scanner | None = None) -> AuthorizationStart:
    """Begin an authorization; returns the provider's sign-in URL to open in the browser.

    With `scanner`, the signed-in account must be able to open its mailbox and becomes its
    authorized account (the scanner's mailbox is the login hint)."""
    provider = provider_for(kind)
    app = await get_app_settings(kind)
    provider.check_configured(app)
    if scanner is not None and scanner.auth_type != _SCANNER_AUTH[kind]:
        raise OAuthError(f"The scanner {scanner.name!r} does not log in with {provider.label} "
                         "OAuth; change its auth type first.")
    hint = login_hint or (scanner.login_user if scanner is not None else None) or None
    started = await _call(provider, provider.start, app, redirect_url(kind, public_url), hint)
    expires_at = _now() + FLOW_LIFETIME
    await OAuthFlow.filter(expires_at__lt=_now()).delete()  # housekeeping of abandoned flows
    await OAuthFlow.create(
        provider=kind, state=started.state, expires_at=expires_at, created_by_id=created_by_id,
        flow_encrypted=crypto.encrypt(json.dumps(started.flow)),
        extra={"scanner_id": scanner.id} if scanner is not None else {})
    return AuthorizationStart(authorization_url=started.url, expires_at=expires_at)


async def complete_authorization(kind: OAuthProvider, params: Mapping[str, str]) -> OAuthAccount:
    """Finish the flow named by params["state"] with the provider's answer; store the account.

    Raises AuthorizationFailed with a sentence for the admin; nothing is stored then.
    """
    provider = provider_for(kind)
    state = params.get("state") or ""
    if not state:
        raise AuthorizationFailed(f"The response from {provider.label} has no state parameter.")
    row = await OAuthFlow.get_or_none(state=state, provider=kind)
    # Single use: whoever deletes the row owns the flow (a replayed callback finds nothing).
    if row is None or await OAuthFlow.filter(id=row.id).delete() == 0:
        raise AuthorizationFailed("This authorization request is unknown or was already used. "
                                  "Start a new authorization from the scanner settings.")
    if row.expires_at <= _now():
        raise AuthorizationFailed("This authorization request has expired (it is valid for "
                                  f"{int(FLOW_LIFETIME.total_seconds() // 60)} minutes). "
                                  "Start a new authorization from the scanner settings.")
    if params.get("error"):
        reason = _first_line(params.get("error_description") or params["error"])
        raise AuthorizationFailed(f"{provider.label} did not authorize the account: {reason}")
    flow = json.loads(crypto.decrypt(row.flow_encrypted))
    app = await get_app_settings(kind)
    authorized = await _call(provider, provider.redeem, app, flow, dict(params))
    scanner_id = (row.extra or {}).get("scanner_id")
    return await _store_account(provider, authorized, scanner_id)


async def _call(provider: Provider, fn: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(fn, *args)
    except OAuthError:
        raise
    except Exception as exc:  # requests/socket errors inside the provider's library
        logger.warning("call to %s failed", provider.label, exc_info=True)
        raise OAuthError(f"Could not reach {provider.label}: {exc}") from exc


async def _store_account(provider: Provider, authorized: Authorized,
                         scanner_id: int | None) -> OAuthAccount:
    """Create the account, or renew it (same provider account: new tokens, status back to OK);
    with a scanner, check that the account can open its mailbox and select it there."""
    async with in_transaction():
        scanner = await Scanner.get_or_none(id=scanner_id) if scanner_id else None
        if scanner_id and scanner is None:
            raise AuthorizationFailed("The scanner this authorization was started for no "
                                      "longer exists. Nothing was saved.")
        if (scanner is not None and provider.own_mailbox_only
                and authorized.email.casefold() != scanner.login_user.casefold()):
            raise AuthorizationFailed(
                f"You signed in as {authorized.email}, but the scanner {scanner.name!r} reads "
                f"{scanner.login_user}: a {provider.label} account can open only its own "
                f"mailbox. Sign in as {scanner.login_user}. Nothing was saved.")
        account = await OAuthAccount.get_or_none(provider=provider.kind, subject=authorized.subject)
        if account is None:
            account = OAuthAccount(provider=provider.kind, subject=authorized.subject)
        account.email = authorized.email
        account.status = OAuthAccountStatus.OK
        account.status_reason = None
        account.last_refresh_at = _now()
        account.set_token_data(authorized.token_data)
        await account.save()
        if scanner is not None:
            scanner.oauth_account_id = account.id
            await scanner.save(update_fields=["oauth_account_id", "updated_at"])
        # The scanners' health said "re-authorization needed"; that is fixed now.
        await Scanner.filter(oauth_account_id=account.id,
                             last_error__startswith=REAUTH_ERROR_PREFIX).update(last_error=None)
    logger.info("%s account %s authorized (id %s)", provider.label, authorized.email, account.id)
    return account


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
