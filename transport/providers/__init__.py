"""OAuth providers behind one account interface: Microsoft and Google sign-ins, Microsoft
app-only access, and the access tokens IMAP and SMTP log in with (XOAUTH2).

The flow of an authorization (flows.py):
  1. an admin starts it through the API: the provider builds its sign-in URL (PKCE, a
     random state); the pending flow is stored encrypted, keyed by the state, for 10 min;
  2. the browser returns to /oauth/<provider>/callback with a code and the state: the flow
     is taken once (a replayed or forged state finds nothing), the provider redeems the
     code, and the account is stored with its token data, encrypted, in one transaction.
     Any refusal (denied consent, no refresh token, the wrong account) stores nothing.

The flow of a login (tokens.py): `get_access_token(account_id)` asks the account's
provider for a valid access token, refreshing it when due; new token data is committed
before the token is used. A refusal that only a new sign-in fixes marks the account and
its scanners "re-authorization needed"; everything else only fails this attempt.

App-only Microsoft access (microsoft_app_only.py) has no account: the app's own client
credentials give a token for any mailbox its service principal was granted.

A third provider is one more module implementing base.Provider, added to PROVIDERS.
"""

from __future__ import annotations

from ...models import OAuthProvider
from . import google, microsoft
from .base import Provider

__all__ = ["PROVIDERS", "provider"]

PROVIDERS: dict[OAuthProvider, Provider] = {
    OAuthProvider.MICROSOFT: microsoft.PROVIDER,
    OAuthProvider.GOOGLE: google.PROVIDER,
}


def provider(kind: OAuthProvider | str) -> Provider:
    """The provider module's object for an account's `provider` column."""
    return PROVIDERS[OAuthProvider(kind)]
