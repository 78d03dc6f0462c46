"""The "Make new authorization" round trip: admin -> Microsoft login -> our callback.

1. `start_authorization()` asks msal for an auth-code flow with PKCE, state and nonce
   (`response_mode="form_post"`: Microsoft POSTs the code back instead of putting it in a
   URL), keeps the flow server-side, encrypted, for FLOW_LIFETIME, keyed by its state, and
   returns Microsoft's login URL.
2. The browser comes back to /oauth/microsoft/callback; `complete_authorization()` takes the
   flow for that state (single use, refused once expired), redeems the code and stores the
   account with its msal token cache, encrypted. A failed exchange stores nothing.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msal
from tortoise.transactions import in_transaction

from .. import crypto
from ..models import MicrosoftAccount, OAuthAccountStatus, OAuthAppSettings, OAuthFlow, Scanner
from .errors import OAuthError
from .oauth import REAUTH_ERROR_PREFIX, SCOPES, build_app, get_app_settings, redirect_url

logger = logging.getLogger(__name__)

FLOW_LIFETIME = dt.timedelta(minutes=10)


class AuthorizationFailed(OAuthError):
    """The callback cannot complete: unknown/expired state, or Microsoft said no."""


@dataclass(frozen=True)
class AuthorizationStart:
    authorization_url: str
    expires_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def start_authorization(public_url: str, *, created_by_id: int | None = None,
                              login_hint: str | None = None) -> AuthorizationStart:
    """Begin an authorization; returns the Microsoft login URL to open in the browser."""
    app_settings = await get_app_settings()

    def initiate() -> dict[str, Any]:
        app = build_app(app_settings)
        flow: dict[str, Any] = app.initiate_auth_code_flow(
            SCOPES, redirect_uri=redirect_url(public_url), response_mode="form_post",
            prompt="select_account", login_hint=login_hint)
        return flow

    flow = await _call_microsoft(initiate)
    if "auth_uri" not in flow:
        raise OAuthError(f"Could not start the authorization: {flow.get('error_description')}")
    expires_at = _now() + FLOW_LIFETIME
    await OAuthFlow.filter(expires_at__lt=_now()).delete()  # housekeeping of abandoned flows
    await OAuthFlow.create(state=flow["state"], flow_encrypted=crypto.encrypt(json.dumps(flow)),
                           expires_at=expires_at, created_by_id=created_by_id)
    return AuthorizationStart(authorization_url=flow["auth_uri"], expires_at=expires_at)


async def complete_authorization(params: Mapping[str, str]) -> MicrosoftAccount:
    """Finish the flow named by params["state"] with Microsoft's answer; store the account.

    Raises AuthorizationFailed with a sentence for the admin; nothing is stored then.
    """
    state = params.get("state") or ""
    if not state:
        raise AuthorizationFailed("The response from Microsoft has no state parameter.")
    row = await OAuthFlow.get_or_none(state=state)
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
        raise AuthorizationFailed(f"Microsoft did not authorize the account: {reason}")
    flow = json.loads(crypto.decrypt(row.flow_encrypted))
    app_settings = await get_app_settings()
    cache = msal.SerializableTokenCache()
    result, accounts = await _call_microsoft(_redeem, app_settings, cache, flow, dict(params))
    if "access_token" not in result:
        logger.warning("authorization code exchange failed: %s", result.get("error"))
        raise AuthorizationFailed("Microsoft refused the sign-in: " + _first_line(
            result.get("error_description") or result.get("error") or "unknown error"))
    claims: dict[str, Any] = result.get("id_token_claims") or {}
    email = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
    if not email or not accounts:
        raise AuthorizationFailed("Microsoft did not say which account signed in.")
    return await _store_account(str(email), accounts[0]["home_account_id"], cache.serialize())


def _redeem(app_settings: OAuthAppSettings, cache: msal.SerializableTokenCache,
            flow: dict[str, Any], params: dict[str, str]) -> tuple[dict[str, Any], list[Any]]:
    """Blocking: the code exchange, and the account msal recorded in the fresh cache."""
    app = build_app(app_settings, token_cache=cache)
    try:
        result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, params, scopes=SCOPES)
    except ValueError as exc:  # msal: state mismatch, or the id_token's nonce does not match
        return {"error": "invalid_response", "error_description": str(exc)}, []
    return result, (app.get_accounts() if "access_token" in result else [])


async def _call_microsoft(fn: Any, *args: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args)
    except OAuthError:
        raise
    except Exception as exc:  # requests/socket errors inside msal
        logger.warning("call to Microsoft failed", exc_info=True)
        raise OAuthError(f"Could not reach Microsoft: {exc}") from exc


async def _store_account(email: str, home_account_id: str, cache: str) -> MicrosoftAccount:
    """Create the account, or renew it (same home account: new tokens, status back to OK)."""
    async with in_transaction():
        account = await MicrosoftAccount.get_or_none(home_account_id=home_account_id)
        if account is None:
            account = MicrosoftAccount(home_account_id=home_account_id)
        account.email = email
        account.status = OAuthAccountStatus.OK
        account.status_reason = None
        account.last_refresh_at = _now()
        account.set_token_cache(cache)
        await account.save()
        # The scanners' health said "re-authorization needed"; that is fixed now.
        await Scanner.filter(oauth_account_id=account.id,
                             last_error__startswith=REAUTH_ERROR_PREFIX).update(last_error=None)
    logger.info("Microsoft account %s authorized (id %s)", email, account.id)
    return account


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


__all__ = [
    "FLOW_LIFETIME",
    "AuthorizationFailed",
    "AuthorizationStart",
    "complete_authorization",
    "start_authorization",
]
