"""Google OAuth: authorization round trip, callback page, token lifecycle (fake Google)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailscanner.models import (
    AuthType,
    OAuthAccount,
    OAuthAccountStatus,
    OAuthAppSettings,
    OAuthFlow,
    OAuthProvider,
    Scanner,
)
from mailscanner.resolvers.oauth_callback import google_callback, microsoft_callback
from mailscanner.transport.errors import OAuthError, ReauthorizationNeeded
from mailscanner.transport.providers.flows import (
    AuthorizationFailed,
    complete_authorization,
    start_authorization,
)
from mailscanner.transport.providers.google import PROVIDER
from mailscanner.transport.providers.tokens import get_access_token

from ...fixtures.google import FakeGoogle, authorize_google_account
from ...fixtures.microsoft import FakeMicrosoft

PUBLIC_URL = "https://crm.example.com"
CALLBACK = PROVIDER.callback_path
GOOGLE = OAuthProvider.GOOGLE


def stored(account: OAuthAccount) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(account.get_token_data())
    return data


async def gmail_scanner(name: str, mailbox: str, account: OAuthAccount | None = None) -> Scanner:
    return await Scanner.create(name=name, host="imap.gmail.com", auth_type=AuthType.GOOGLE_OAUTH,
                                mailbox_name=mailbox, oauth_account=account)


@pytest.fixture
async def browser() -> AsyncIterator[httpx2.AsyncClient]:
    """The admin's browser coming back to our callbacks."""
    app = Starlette(routes=[Route(CALLBACK, google_callback, methods=["GET"]),
                            Route("/oauth/microsoft/callback", microsoft_callback,
                                  methods=["GET", "POST"])])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url=PUBLIC_URL) as client:
        yield client


# -- authorization -------------------------------------------------------------------------

async def test_the_sign_in_url_asks_for_gmail_offline_access_with_consent_and_pkce(
        google_app: FakeGoogle) -> None:
    start = await start_authorization(GOOGLE, PUBLIC_URL, login_hint="support@example.org")

    url = urlsplit(start.authorization_url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        "https://accounts.google.com/o/oauth2/v2/auth")
    assert query["redirect_uri"] == "https://crm.example.com/oauth/google/callback"
    assert set(query["scope"].split()) == {"https://mail.google.com/", "openid", "email"}
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert query["code_challenge_method"] == "S256"
    assert query["login_hint"] == "support@example.org"
    flow = await OAuthFlow.get(state=query["state"])
    assert flow.provider == GOOGLE
    assert "code_verifier" not in flow.flow_encrypted  # kept encrypted server-side


async def test_an_authorized_account_keeps_its_refresh_token_encrypted(
        google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "Support@Example.org")

    row = await OAuthAccount.get(id=account.id)
    assert (row.provider, row.email, row.status) == (GOOGLE, "support@example.org",
                                                      OAuthAccountStatus.OK)
    data = stored(row)
    assert data["refresh_token"].startswith("1//")
    assert data["refresh_token"] not in row.token_data_encrypted
    assert data["scopes"] == sorted(["https://mail.google.com/", "openid",
                                     "https://www.googleapis.com/auth/userinfo.email"])
    assert await OAuthFlow.all().count() == 0  # the state is single use


async def test_the_callback_page_names_the_account_and_a_replayed_state_is_refused(
        google_app: FakeGoogle, browser: httpx2.AsyncClient) -> None:
    start = await start_authorization(GOOGLE, PUBLIC_URL)
    answer = google_app.login(start.authorization_url, "support@example.org")

    first = await browser.get(CALLBACK, params=answer)
    again = await browser.get(CALLBACK, params=answer)

    assert first.status_code == 200
    assert "Google account support@example.org is authorized" in first.text
    assert first.headers["cache-control"] == "no-store"
    assert again.status_code == 400
    assert "unknown or was already used" in again.text
    assert await OAuthAccount.all().count() == 1


async def test_a_forged_state_is_refused_and_nothing_is_saved(
        google_app: FakeGoogle, browser: httpx2.AsyncClient) -> None:
    start = await start_authorization(GOOGLE, PUBLIC_URL)
    answer = google_app.login(start.authorization_url, "support@example.org")

    forged = await browser.get(CALLBACK, params={**answer, "state": "attacker-chosen"})

    assert forged.status_code == 400
    assert "unknown or was already used" in forged.text
    assert await OAuthAccount.all().count() == 0
    assert await OAuthFlow.all().count() == 1  # the real flow is still there to be finished


async def test_a_microsoft_state_at_the_google_callback_is_refused(
        google_app: FakeGoogle, microsoft_app: FakeMicrosoft,
        browser: httpx2.AsyncClient) -> None:
    microsoft = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    state = parse_qs(urlsplit(microsoft.authorization_url).query)["state"][0]

    page = await browser.get(CALLBACK, params={"code": "x", "state": state})

    assert page.status_code == 400
    assert await OAuthFlow.filter(state=state).exists()  # not consumed by the wrong callback


async def test_an_authorization_without_a_refresh_token_saves_nothing(
        google_app: FakeGoogle, browser: httpx2.AsyncClient) -> None:
    google_app.omit_refresh_token = True
    start = await start_authorization(GOOGLE, PUBLIC_URL)

    page = await browser.get(CALLBACK, params=google_app.login(start.authorization_url,
                                                               "support@example.org"))

    assert page.status_code == 400
    assert "no refresh token" in page.text
    assert "Nothing was saved" in page.text
    assert await OAuthAccount.all().count() == 0


async def test_consent_without_gmail_access_saves_nothing(google_app: FakeGoogle) -> None:
    start = await start_authorization(GOOGLE, PUBLIC_URL)
    answer = google_app.login(start.authorization_url, "support@example.org", grant_gmail=False)

    with pytest.raises(AuthorizationFailed, match="did not grant access to Gmail"):
        await complete_authorization(GOOGLE, answer)
    assert await OAuthAccount.all().count() == 0


async def test_a_denied_consent_says_so(google_app: FakeGoogle) -> None:
    start = await start_authorization(GOOGLE, PUBLIC_URL)

    with pytest.raises(AuthorizationFailed, match="did not authorize the account: access_denied"):
        await complete_authorization(GOOGLE, google_app.deny(start.authorization_url))
    assert await OAuthAccount.all().count() == 0


async def test_starting_without_a_client_says_what_to_configure(db: object) -> None:
    with pytest.raises(OAuthError, match="Google OAuth is not configured"):
        await start_authorization(GOOGLE, PUBLIC_URL)


async def test_authorizing_for_a_scanner_with_another_account_saves_nothing(
        google_app: FakeGoogle) -> None:
    scanner = await gmail_scanner("support", "support@example.org")
    start = await start_authorization(GOOGLE, PUBLIC_URL, scanner=scanner)
    assert parse_qs(urlsplit(start.authorization_url).query)["login_hint"] == [
        "support@example.org"]

    wrong = google_app.login(start.authorization_url, "alice@example.org")
    with pytest.raises(AuthorizationFailed,
                       match="signed in as alice@example.org, but the scanner 'support' reads "
                             "support@example.org"):
        await complete_authorization(GOOGLE, wrong)

    assert await OAuthAccount.all().count() == 0
    assert (await Scanner.get(id=scanner.id)).oauth_account_id is None  # type: ignore[attr-defined]


async def test_authorizing_for_a_scanner_selects_the_account_on_it(
        google_app: FakeGoogle) -> None:
    scanner = await gmail_scanner("support", "support@example.org")

    account = await authorize_google_account(google_app, "support@example.org", scanner=scanner)

    assert (await Scanner.get(id=scanner.id)).oauth_account_id == account.id  # type: ignore[attr-defined]


async def test_a_scanner_of_another_auth_type_cannot_start_a_google_authorization(
        google_app: FakeGoogle) -> None:
    scanner = await Scanner.create(name="pw", host="imap.example.org", username="u")

    with pytest.raises(OAuthError, match="does not log in with Google OAuth"):
        await start_authorization(GOOGLE, PUBLIC_URL, scanner=scanner)


# -- tokens --------------------------------------------------------------------------------

async def test_the_stored_access_token_is_used_until_it_expires_then_refreshed(
        google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@example.org")
    first = await get_access_token(account.id)
    assert await get_access_token(account.id) == first
    assert google_app.token_calls("refresh_token") == []
    assert google_app.introspect(first)["active"] is True

    google_app.expire_access_tokens()
    renewed = await get_access_token(account.id)

    assert renewed != first
    assert google_app.introspect(renewed)["active"] is True
    assert [c["status"] for c in google_app.token_calls("refresh_token")] == [200]
    row = await OAuthAccount.get(id=account.id)
    assert stored(row)["access_token"] == renewed
    assert stored(row)["refresh_token"] == stored(account)["refresh_token"]  # not rotated
    assert row.last_refresh_at is not None


async def test_revoked_access_marks_the_account_and_its_scanners_only(
        google_app: FakeGoogle) -> None:
    support = await authorize_google_account(google_app, "support@example.org")
    sales = await authorize_google_account(google_app, "sales@example.org")
    support_scanner = await gmail_scanner("support", "support@example.org", support)
    sales_scanner = await gmail_scanner("sales", "sales@example.org", sales)
    google_app.revoke("support@example.org")
    google_app.expire_access_tokens()

    with pytest.raises(ReauthorizationNeeded, match="the Google authorization must be renewed "
                       "\\(Token has been expired or revoked\\)"):
        await get_access_token(support.id)

    row = await OAuthAccount.get(id=support.id)
    assert row.status == OAuthAccountStatus.REAUTH_NEEDED
    assert (await Scanner.get(id=support_scanner.id)).last_error == (
        "Re-authorization needed for support@example.org: Token has been expired or revoked")
    # no second call to Google: the account is known to need a new sign-in
    with pytest.raises(ReauthorizationNeeded):
        await get_access_token(support.id)
    assert len(google_app.token_calls("refresh_token")) == 1
    assert google_app.introspect(await get_access_token(sales.id))["active"] is True
    assert (await Scanner.get(id=sales_scanner.id)).last_error is None

    # and a new sign-in repairs it
    await authorize_google_account(google_app, "support@example.org")
    assert (await OAuthAccount.get(id=support.id)).status == OAuthAccountStatus.OK
    assert (await Scanner.get(id=support_scanner.id)).last_error is None
    assert google_app.introspect(await get_access_token(support.id))["active"] is True


async def test_a_rotated_client_secret_says_to_save_it_and_keeps_the_authorization(
        google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@example.org")
    google_app.rotate_client_secret()
    google_app.expire_access_tokens()

    with pytest.raises(OAuthError, match="updateGoogleAppSettings") as caught:
        await get_access_token(account.id)

    assert not isinstance(caught.value, ReauthorizationNeeded)
    assert "invalid_client" in str(caught.value)
    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.OK
    # the admin saves the new secret: the same authorization works again
    app = await OAuthAppSettings.get(provider=GOOGLE)
    app.set_client_secret(google_app.client_secret)
    await app.save()
    assert google_app.introspect(await get_access_token(account.id))["active"] is True


async def test_google_out_of_reach_is_a_temporary_error(google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@example.org")
    google_app.expire_access_tokens()
    google_app.unreachable = True

    with pytest.raises(OAuthError, match="Could not reach Google") as caught:
        await get_access_token(account.id)

    assert not isinstance(caught.value, ReauthorizationNeeded)
    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.OK


async def test_a_stored_token_of_unknown_age_is_refreshed_not_trusted(
        google_app: FakeGoogle) -> None:
    account = await authorize_google_account(google_app, "support@example.org")
    data = stored(account)
    del data["expiry"]
    account.set_token_data(json.dumps(data))
    await account.save()

    token = await get_access_token(account.id)

    assert token != data["access_token"]
    assert len(google_app.token_calls("refresh_token")) == 1
