"""Microsoft (Entra ID) delegated sign-in with msal: a user authorizes, msal keeps the tokens.

The account's token data is msal's serialized token cache. `refresh()` restores it and lets
msal hand out the cached access token or refresh it: msal treats a token with under 5
minutes left as expired, so tokens are renewed before they run out. Microsoft rotates
refresh tokens, so a refresh hands back new token data, which tokens.py saves before the
access token is used.

The sign-in is msal's auth-code flow with PKCE, state and nonce, `response_mode=form_post`
(Microsoft POSTs the code back instead of putting it in a URL).

Every msal app is built by `build_app()`, whose `http_client` is the test seam (tests install
a fake authority with `set_http_client()`); production uses msal's own requests session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msal

from ...models import OAuthAppSettings, OAuthProvider
from ..errors import OAuthError
from .base import AuthorizationFailed, Authorized, Refreshed, RefreshRefused, Started

__all__ = ["PROVIDER", "SCOPES", "MicrosoftProvider", "build_app", "set_http_client"]

# Delegated Exchange Online permissions. msal adds openid, profile and offline_access itself
# and refuses them here ("reserved scopes"); offline_access is what yields a refresh token.
SCOPES = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
]
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


def set_http_client(client: HttpClient | None) -> HttpClient | None:
    """Install the HTTP client every msal app uses (None: msal's requests session).

    Returns the previous one so a test fixture can restore it.
    """
    global _http_client
    previous, _http_client = _http_client, client
    return previous


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
    except ValueError as exc:  # bad authority URL, or a tenant Microsoft does not know
        raise OAuthError(
            f"Microsoft does not know the tenant {app_settings.tenant!r}: check the "
            f"Directory (tenant) ID in the Microsoft app settings ({first_line(str(exc))})"
        ) from None


def first_line(text: str) -> str:
    # Microsoft appends trace/correlation ids on later lines; the first line is the message.
    stripped = text.strip()
    return stripped.splitlines()[0].rstrip(".") if stripped else ""


class MicrosoftProvider:
    kind = OAuthProvider.MICROSOFT
    label = "Microsoft"
    callback_path = "/oauth/microsoft/callback"
    scopes = [*SCOPES, "offline_access"]
    own_mailbox_only = False

    def check_configured(self, app: OAuthAppSettings) -> None:
        if not app.client_id or not app.has_client_secret:
            raise OAuthError("Microsoft OAuth is not configured: set the client ID and secret")

    def start(self, app: OAuthAppSettings, redirect_uri: str, login_hint: str | None) -> Started:
        flow: dict[str, Any] = build_app(app).initiate_auth_code_flow(
            SCOPES, redirect_uri=redirect_uri, response_mode="form_post",
            prompt="select_account", login_hint=login_hint)
        if "auth_uri" not in flow:
            raise OAuthError(
                f"Could not start the authorization: {flow.get('error_description')}")
        return Started(flow["auth_uri"], flow["state"], flow)

    def redeem(self, app: OAuthAppSettings, flow: dict[str, Any],
               params: Mapping[str, str]) -> Authorized:
        cache = msal.SerializableTokenCache()
        msal_app = build_app(app, token_cache=cache)
        try:
            result: dict[str, Any] = msal_app.acquire_token_by_auth_code_flow(
                flow, dict(params), scopes=SCOPES)
        except ValueError as exc:  # msal: state mismatch, or the id_token's nonce differs
            result = {"error": "invalid_response", "error_description": str(exc)}
        if "access_token" not in result:
            raise AuthorizationFailed("Microsoft refused the sign-in: " + first_line(
                result.get("error_description") or result.get("error") or "unknown error"))
        claims: dict[str, Any] = result.get("id_token_claims") or {}
        email = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
        accounts = msal_app.get_accounts()
        if not email or not accounts:
            raise AuthorizationFailed("Microsoft did not say which account signed in.")
        return Authorized(str(email), accounts[0]["home_account_id"], cache.serialize())

    def refresh(self, app: OAuthAppSettings, subject: str, token_data: str) -> Refreshed:
        cache = msal.SerializableTokenCache()
        cache.deserialize(token_data or None)
        msal_app = build_app(app, token_cache=cache)
        account = next((a for a in msal_app.get_accounts()
                        if a.get("home_account_id") == subject), None)
        if account is None:
            raise RefreshRefused("no_refresh_token", "no refresh token is stored", reauth=True)
        result: dict[str, Any] | None = msal_app.acquire_token_silent_with_error(SCOPES, account)
        if result and "access_token" in result:
            # Only a success is saved: msal also touches the cache on errors.
            return Refreshed(result["access_token"],
                             cache.serialize() if cache.has_state_changed else None)
        error = (result or {}).get("error", "no_refresh_token")
        reason = first_line((result or {}).get("error_description") or "") or (
            "no refresh token is stored" if result is None else "unknown reason")
        raise RefreshRefused(error, reason, reauth=error in _REAUTH_ERRORS or result is None)


PROVIDER = MicrosoftProvider()
