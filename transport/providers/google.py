"""Google (Gmail, Google Workspace) sign-in with google-auth-oauthlib and google-auth.

Sign-in: the authorization-code flow for a "Web application" OAuth client, with PKCE,
`access_type=offline` and `prompt=consent` (Google returns a refresh token only then, even
to an account that consented before). Scopes: https://mail.google.com/ (IMAP and SMTP
with XOAUTH2; Gmail has no narrower scope for them) plus `openid email`, so the ID token
says which account signed in. The code comes back as a query string to
/oauth/google/callback.

Token data (encrypted at rest) is {"refresh_token", "access_token", "expiry", "scopes"}.
`refresh()` hands out the stored access token while google-auth considers it valid (it
renews 3 min 45 s before the expiry) and otherwise refreshes it. Google keeps the refresh
token (it does not rotate it); when it does send a new one, the new one is stored.

Failures: `invalid_grant` (the user revoked access, changed the password of a Workspace
account with that policy, or the token lapsed: 6 months unused, or 7 days while the app's
consent screen is in "Testing") and `admin_policy_enforced` need a new sign-in;
`invalid_client`/`unauthorized_client` (the client secret was rotated or the client deleted)
need the app settings fixed, and the stored grant is kept for when they are.

HTTP goes through requests sessions built by `_session()`; `set_transport_adapter()` mounts
a transport adapter on them for tests (a fake Google behind requests, no sockets).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import jwt
import requests
import requests.adapters
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from ...models import OAuthAppSettings, OAuthProvider
from ..errors import OAuthError
from .base import AuthorizationFailed, Authorized, Refreshed, RefreshRefused, Started

__all__ = ["AUTH_URI", "GMAIL_SCOPE", "PROVIDER", "TOKEN_URI", "GoogleProvider",
           "set_transport_adapter"]

AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URI = "https://oauth2.googleapis.com/token"
GMAIL_SCOPE = "https://mail.google.com/"
SCOPES = [GMAIL_SCOPE, "openid", "email"]
ISSUERS = ["https://accounts.google.com", "accounts.google.com"]
HTTP_TIMEOUT_SECONDS = 30
_REAUTH_ERRORS = {"invalid_grant", "admin_policy_enforced"}

_adapter: requests.adapters.BaseAdapter | None = None


def set_transport_adapter(
    adapter: requests.adapters.BaseAdapter | None,
) -> requests.adapters.BaseAdapter | None:
    """Mount `adapter` for https:// on every session this module builds (None: real HTTP).

    Returns the previous one so a test fixture can restore it.
    """
    global _adapter
    previous, _adapter = _adapter, adapter
    return previous


def _mount(session: requests.Session) -> requests.Session:
    if _adapter is not None:
        session.mount("https://", _adapter)
    return session


def _client_config(app: OAuthAppSettings, redirect_uri: str) -> dict[str, Any]:
    return {"web": {"client_id": app.client_id, "client_secret": app.get_client_secret(),
                    "auth_uri": AUTH_URI, "token_uri": TOKEN_URI,
                    "redirect_uris": [redirect_uri]}}


def _error_text(error: str, description: str | None) -> str:
    return f"{description} ({error})" if description else error


class GoogleProvider:
    kind = OAuthProvider.GOOGLE
    label = "Google"
    callback_path = "/oauth/google/callback"
    scopes = list(SCOPES)
    own_mailbox_only = True

    def check_configured(self, app: OAuthAppSettings) -> None:
        if not app.client_id or not app.has_client_secret:
            raise OAuthError(
                "Google OAuth is not configured: set the client ID and secret of a Web "
                "application OAuth client (updateGoogleAppSettings)")

    def start(self, app: OAuthAppSettings, redirect_uri: str, login_hint: str | None) -> Started:
        flow = Flow.from_client_config(_client_config(app, redirect_uri), scopes=SCOPES,
                                       redirect_uri=redirect_uri, autogenerate_code_verifier=True)
        extra = {"login_hint": login_hint} if login_hint else {}
        url, state = flow.authorization_url(
            access_type="offline", prompt="consent", include_granted_scopes="false", **extra)
        return Started(url, state, {"code_verifier": flow.code_verifier,
                                    "redirect_uri": redirect_uri})

    def redeem(self, app: OAuthAppSettings, flow: dict[str, Any],
               params: Mapping[str, str]) -> Authorized:
        config = _client_config(app, flow["redirect_uri"])
        oauth = Flow.from_client_config(config, scopes=SCOPES, redirect_uri=flow["redirect_uri"],
                                        code_verifier=flow["code_verifier"])
        _mount(oauth.oauth2session)
        try:
            token: Mapping[str, Any] = oauth.fetch_token(code=params.get("code") or "",
                                                         timeout=HTTP_TIMEOUT_SECONDS)
        except Warning as changed:
            # oauthlib raises when the granted scopes differ from the requested ones (Google
            # answers `email` as .../userinfo.email); the Gmail scope is checked below.
            token = changed.token  # type: ignore[attr-defined]
        except OAuth2Error as exc:
            raise AuthorizationFailed(
                "Google refused the sign-in: " + _error_text(exc.error, exc.description)
            ) from None
        scope = token.get("scope") or ""
        granted = set(scope.split() if isinstance(scope, str) else scope)  # oauthlib: a list
        if GMAIL_SCOPE not in granted:
            raise AuthorizationFailed(
                "Google did not grant access to Gmail: on the consent screen, allow the app "
                "to \"read, compose, send and permanently delete all your email from Gmail\".")
        if not token.get("refresh_token"):
            raise AuthorizationFailed(
                "Google returned no refresh token, so the mailbox could not be read once "
                "this sign-in expires. Remove the app's access in the Google account "
                "(Security, Third-party access) and authorize again.")
        claims = self._identity(app, str(token.get("id_token") or ""))
        data = {"refresh_token": token["refresh_token"], "access_token": token["access_token"],
                "expiry": _expiry(token.get("expires_in")), "scopes": sorted(granted)}
        return Authorized(str(claims["email"]).lower(), str(claims["sub"]), json.dumps(data))

    @staticmethod
    def _identity(app: OAuthAppSettings, id_token: str) -> dict[str, Any]:
        """The ID token's claims. It came straight from Google's token endpoint over TLS,
        which OpenID Connect (Core 3.1.3.7) accepts instead of a signature check; the
        audience, issuer and expiry are still checked."""
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token, options={"verify_signature": False, "verify_aud": True,
                                   "verify_iss": True, "verify_exp": True},
                audience=app.client_id, issuer=ISSUERS, leeway=300)
        except jwt.PyJWTError as exc:
            raise AuthorizationFailed(f"Google's answer did not say who signed in: {exc}") from None
        if not claims.get("email") or not claims.get("sub"):
            raise AuthorizationFailed("Google did not say which account signed in (no email).")
        if claims.get("email_verified") is False:
            raise AuthorizationFailed(f"Google has not verified the address {claims['email']}.")
        return claims

    def refresh(self, app: OAuthAppSettings, subject: str, token_data: str) -> Refreshed:
        data = json.loads(token_data or "{}")
        if not data.get("refresh_token"):
            raise RefreshRefused("no_refresh_token", "no refresh token is stored", reauth=True)
        expiry = data.get("expiry")
        creds = google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
            data.get("access_token"), refresh_token=data["refresh_token"], token_uri=TOKEN_URI,
            client_id=app.client_id, client_secret=app.get_client_secret(),
            scopes=data.get("scopes") or [GMAIL_SCOPE],
            # google-auth compares naive UTC datetimes; a token of unknown age is refreshed
            # (without an expiry google-auth would call it valid forever)
            expiry=(dt.datetime.fromisoformat(expiry).replace(tzinfo=None) if expiry
                    else dt.datetime(1970, 1, 1)))
        if creds.valid:
            return Refreshed(str(creds.token))
        session = _mount(requests.Session())
        try:
            creds.refresh(  # type: ignore[no-untyped-call]
                google.auth.transport.requests.Request(session))
        except google.auth.exceptions.RefreshError as exc:
            response = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            error = str(response.get("error") or "refresh_failed")
            reason = str(response.get("error_description") or exc.args[0])
            if error in {"invalid_client", "unauthorized_client"}:
                reason = ("the app's client secret may have been rotated, or the OAuth client "
                          "deleted, in the Google Cloud console: save the current client ID and "
                          f"secret with updateGoogleAppSettings ({reason.rstrip('.')})")
            raise RefreshRefused(error, reason, reauth=error in _REAUTH_ERRORS) from None
        finally:
            session.close()
        data.update(access_token=creds.token, refresh_token=creds.refresh_token
                    or data["refresh_token"], expiry=_expiry_of(creds.expiry))
        return Refreshed(str(creds.token), json.dumps(data))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expiry(expires_in: Any) -> str | None:
    if expires_in is None:
        return None
    moment = _utcnow() + dt.timedelta(seconds=int(expires_in))
    return moment.isoformat()


def _expiry_of(moment: dt.datetime | None) -> str | None:
    return moment.replace(tzinfo=dt.UTC).isoformat() if moment else None


PROVIDER = GoogleProvider()
