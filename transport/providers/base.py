"""The account interface every OAuth provider implements, and what passes through it.

A provider module (microsoft.py, google.py) knows its sign-in service: how to build the
sign-in URL, redeem the code that comes back, and turn stored token data into an access
token. Everything around that is shared and lives in flows.py (pending authorizations,
single-use state, storing the account) and tokens.py (locking, saving rotated tokens,
"re-authorization needed"). The provider functions are blocking (their libraries use
requests) and are called in a thread; they never touch the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...models import OAuthAppSettings, OAuthProvider
from ..errors import OAuthError

__all__ = [
    "AuthorizationFailed",
    "Authorized",
    "Provider",
    "RefreshRefused",
    "Refreshed",
    "Started",
]


class AuthorizationFailed(OAuthError):
    """The callback cannot complete: unknown/expired state, or the provider said no."""


class RefreshRefused(Exception):
    """The provider answered the refresh with an error (`reauth`: only a new sign-in helps)."""

    def __init__(self, error: str, reason: str, *, reauth: bool) -> None:
        reason = reason.strip().rstrip(".") or "unknown reason"
        super().__init__(f"{error}: {reason}")
        self.error, self.reason, self.reauth = error, reason, reauth


@dataclass(frozen=True)
class Started:
    """A sign-in URL, its state, and what the callback needs (kept encrypted server-side)."""

    url: str
    state: str
    flow: dict[str, Any]


@dataclass(frozen=True)
class Authorized:
    """The account that signed in: its address, the provider's stable id, its token data."""

    email: str
    subject: str
    token_data: str


@dataclass(frozen=True)
class Refreshed:
    """An access token; `token_data` is the new data to store, None when unchanged."""

    access_token: str
    token_data: str | None = None


class Provider(Protocol):
    """One sign-in service. Implement these and register it in providers/__init__.py."""

    kind: OAuthProvider
    label: str  # "Microsoft": used in messages to admins
    callback_path: str  # "/oauth/<name>/callback"
    scopes: list[str]  # what the admin grants the app registration
    # True where the token opens only the signed-in account's own mailbox (Gmail); False
    # where it may open other mailboxes the account has rights to (Exchange shared mailboxes).
    own_mailbox_only: bool

    def check_configured(self, app: OAuthAppSettings) -> None:
        """Raise OAuthError naming what is missing from the app registration."""

    def start(self, app: OAuthAppSettings, redirect_uri: str, login_hint: str | None) -> Started:
        """Blocking: the sign-in URL for a new authorization."""

    def redeem(
        self, app: OAuthAppSettings, flow: dict[str, Any], params: Mapping[str, str]
    ) -> Authorized:
        """Blocking: exchange the callback's code; raises AuthorizationFailed."""

    def refresh(self, app: OAuthAppSettings, subject: str, token_data: str) -> Refreshed:
        """Blocking: a valid access token from the stored data, refreshed when due;
        raises RefreshRefused when the provider says no, anything else when unreachable."""
