"""Microsoft OAuth: authorization round trip, callback page, token lifecycle (fake authority)."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailscanner import events
from mailscanner.models import (
    AuthType,
    OAuthAccount,
    OAuthAccountStatus,
    OAuthAppSettings,
    OAuthFlow,
    OAuthProvider,
    Scanner,
)
from mailscanner.resolvers.oauth_callback import microsoft_callback
from mailscanner.settings import Settings
from mailscanner.transport.errors import OAuthError, ReauthorizationNeeded
from mailscanner.transport.providers import tokens as token_module
from mailscanner.transport.providers.flows import (
    complete_authorization,
    start_authorization,
)
from mailscanner.transport.providers.microsoft import PROVIDER
from mailscanner.transport.providers.tokens import OAUTH_CHANNEL, get_access_token

from ...fixtures.microsoft import FakeMicrosoft

PUBLIC_URL = "https://crm.example.com"
CALLBACK_PATH = PROVIDER.callback_path


async def authorize(fake: FakeMicrosoft, login: str = "alice") -> OAuthAccount:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = fake.login(start.authorization_url, login)
    return await complete_authorization(OAuthProvider.MICROSOFT, form)


def stored_refresh_tokens(account: OAuthAccount) -> list[str]:
    cache = json.loads(account.get_token_data())
    return [entry["secret"] for entry in cache["RefreshToken"].values()]


async def add_scanner(name: str, account: OAuthAccount) -> Scanner:
    return await Scanner.create(name=name, host="outlook.office365.com",
                                auth_type=AuthType.MICROSOFT_OAUTH,
                                mailbox_name=f"{name}@contoso.example", oauth_account=account)


@pytest.fixture
async def callback_client() -> AsyncIterator[httpx2.AsyncClient]:
    app = Starlette(
        routes=[Route(CALLBACK_PATH, microsoft_callback, methods=["GET", "POST"])]
    )
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url=PUBLIC_URL) as client:
        yield client


# -- authorization -------------------------------------------------------------------------

async def test_the_login_url_asks_for_imap_smtp_and_offline_access_with_our_redirect_url(
        microsoft_app: FakeMicrosoft) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)

    query = parse_qs(urlsplit(start.authorization_url).query)
    assert query["redirect_uri"] == ["https://crm.example.com/oauth/microsoft/callback"]
    assert set(query["scope"][0].split()) >= {
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send", "offline_access"}
    assert query["response_mode"] == ["form_post"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["prompt"] == ["select_account"]
    assert "login_hint" not in query
    flow = await OAuthFlow.get(state=query["state"][0])
    assert "code_verifier" not in flow.flow_encrypted  # kept encrypted server-side
    remaining = start.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=9) < remaining <= dt.timedelta(minutes=10)


async def test_an_authorized_account_is_stored_with_its_email_and_an_encrypted_cache(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)

    stored = await OAuthAccount.get(id=account.id)
    assert stored.email == "alice@contoso.example"
    assert stored.status == OAuthAccountStatus.OK
    tenant_id = "9188040d-6c67-4c5b-b112-36a304b66dad"
    assert stored.subject == f"{microsoft_app.users['alice'].oid}.{tenant_id}"
    [refresh_token] = stored_refresh_tokens(stored)
    assert refresh_token not in stored.token_data_encrypted
    assert microsoft_app.refresh_token_is_valid(refresh_token)
    assert await OAuthFlow.all().count() == 0  # the flow is single use


async def test_authorizing_the_same_account_again_renews_it_instead_of_adding_one(
        microsoft_app: FakeMicrosoft) -> None:
    first = await authorize(microsoft_app)
    await OAuthAccount.filter(id=first.id).update(
        status=OAuthAccountStatus.REAUTH_NEEDED, status_reason="revoked")

    second = await authorize(microsoft_app)

    assert second.id == first.id
    assert [(a.email, a.status) for a in await OAuthAccount.all()] == [
        ("alice@contoso.example", OAuthAccountStatus.OK)]


async def test_a_new_authorization_repairs_an_account_that_needed_one(
        microsoft_app: FakeMicrosoft) -> None:
    # given alice's revoked account and its scanner showing the problem
    account = await authorize(microsoft_app)
    scanner = await add_scanner("support", account)
    microsoft_app.revoke_grant("alice")
    microsoft_app.expire_access_tokens()
    with pytest.raises(ReauthorizationNeeded):
        await get_access_token(account.id)

    # when the admin authorizes alice again
    await authorize(microsoft_app)

    # then the account works again and the scanner's health no longer says so
    assert microsoft_app.introspect(await get_access_token(account.id))["active"] is True
    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.OK
    assert (await Scanner.get(id=scanner.id)).last_error is None


async def test_starting_without_client_id_and_secret_says_what_to_configure(db: Settings) -> None:
    with pytest.raises(OAuthError, match="not configured"):
        await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)


# -- callback endpoint ---------------------------------------------------------------------

async def test_the_callback_page_names_the_authorized_account(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = microsoft_app.login(start.authorization_url)

    response = await callback_client.post(CALLBACK_PATH, data=form)

    assert response.status_code == 200
    assert "alice@contoso.example" in response.text
    assert "close this window" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert await OAuthAccount.filter(email="alice@contoso.example").count() == 1


async def test_the_callback_also_accepts_a_query_string(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)

    response = await callback_client.get(CALLBACK_PATH,
                                         params=microsoft_app.login(start.authorization_url))

    assert response.status_code == 200
    assert "alice@contoso.example" in response.text


async def test_a_wrong_state_is_rejected_and_nothing_is_stored(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = microsoft_app.login(start.authorization_url) | {"state": "forged-state"}

    response = await callback_client.post(CALLBACK_PATH, data=form)

    assert response.status_code == 400
    assert "unknown or was already used" in response.text
    assert await OAuthAccount.all().count() == 0
    assert microsoft_app.token_calls("authorization_code") == []


async def test_an_expired_state_is_rejected_and_nothing_is_stored(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = microsoft_app.login(start.authorization_url)
    await OAuthFlow.filter(state=form["state"]).update(
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))

    response = await callback_client.post(CALLBACK_PATH, data=form)

    assert response.status_code == 400
    assert "has expired" in response.text
    assert await OAuthAccount.all().count() == 0
    assert microsoft_app.token_calls("authorization_code") == []


async def test_a_replayed_callback_is_rejected(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = microsoft_app.login(start.authorization_url)
    assert (await callback_client.post(CALLBACK_PATH, data=form)).status_code == 200

    again = await callback_client.post(CALLBACK_PATH, data=form)

    assert again.status_code == 400
    assert "already used" in again.text


async def test_a_failed_code_exchange_stores_no_token(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    # given a code that was issued for another flow (its PKCE challenge does not match)
    ours = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    theirs = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    form = microsoft_app.login(ours.authorization_url)
    form["code"] = microsoft_app.login(theirs.authorization_url)["code"]

    response = await callback_client.post(CALLBACK_PATH, data=form)

    assert response.status_code == 400
    assert "AADSTS501481" in response.text
    assert microsoft_app.token_calls("authorization_code")[0]["error"] == "invalid_grant"
    assert await OAuthAccount.all().count() == 0


async def test_a_declined_consent_shows_microsofts_reason(
        microsoft_app: FakeMicrosoft, callback_client: httpx2.AsyncClient) -> None:
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)

    response = await callback_client.post(CALLBACK_PATH,
                                          data=microsoft_app.deny(start.authorization_url))

    assert response.status_code == 400
    assert "declined to consent" in response.text
    assert await OAuthAccount.all().count() == 0


async def test_a_callback_without_state_is_rejected(callback_client: httpx2.AsyncClient,
                                                    db: Settings) -> None:
    response = await callback_client.get(CALLBACK_PATH, params={"code": "x"})

    assert response.status_code == 400
    assert "no state" in response.text


# -- token lifecycle -----------------------------------------------------------------------

async def test_a_valid_access_token_comes_from_the_cache(
        microsoft_app: FakeMicrosoft, microsoft_account: OAuthAccount) -> None:
    token = await get_access_token(microsoft_account.id)

    assert microsoft_app.introspect(token)["active"] is True
    assert microsoft_app.token_calls("refresh_token") == []


async def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_saved(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    [old_refresh] = stored_refresh_tokens(account)
    old_access = await get_access_token(account.id)
    microsoft_app.expire_access_tokens()

    token = await get_access_token(account.id)

    assert token != old_access
    assert microsoft_app.introspect(old_access)["active"] is False
    assert microsoft_app.introspect(token)["active"] is True
    [new_refresh] = stored_refresh_tokens(await OAuthAccount.get(id=account.id))
    assert new_refresh != old_refresh
    assert microsoft_app.refresh_token_is_valid(new_refresh)
    assert not microsoft_app.refresh_token_is_valid(old_refresh)
    assert (await OAuthAccount.get(id=account.id)).last_refresh_at is not None


async def test_concurrent_callers_sharing_an_account_refresh_once(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    microsoft_app.expire_access_tokens()

    tokens = await asyncio.gather(*(get_access_token(account.id) for _ in range(3)))

    assert len(set(tokens)) == 1
    assert [c["status"] for c in microsoft_app.token_calls("refresh_token")] == [200]
    [stored] = stored_refresh_tokens(await OAuthAccount.get(id=account.id))
    assert microsoft_app.refresh_token_is_valid(stored)


async def test_a_revoked_grant_marks_only_that_account_and_its_scanners(
        microsoft_app: FakeMicrosoft) -> None:
    alice = await authorize(microsoft_app, "alice")
    bob = await authorize(microsoft_app, "bob")
    alice_scanner = await add_scanner("support", alice)
    bob_scanner = await add_scanner("sales", bob)
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async for event in events.subscribe(OAUTH_CHANNEL):
            received.append(event)
            return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    microsoft_app.revoke_grant("alice")
    microsoft_app.expire_access_tokens()

    with pytest.raises(ReauthorizationNeeded) as caught:
        await get_access_token(alice.id)
    await asyncio.wait_for(listener, 5)

    assert "AADSTS50173" in caught.value.reason
    alice_now = await OAuthAccount.get(id=alice.id)
    assert alice_now.status == OAuthAccountStatus.REAUTH_NEEDED
    assert "AADSTS50173" in (alice_now.status_reason or "")
    assert (await Scanner.get(id=alice_scanner.id)).last_error.startswith(
        "Re-authorization needed for alice@contoso.example")
    assert received == [{"kind": "reauthorization_needed", "account_id": alice.id,
                         "email": "alice@contoso.example", "provider": "microsoft",
                         "reason": caught.value.reason,
                         "scanner_ids": [alice_scanner.id]}]
    # bob is untouched and still gets tokens
    assert microsoft_app.introspect(await get_access_token(bob.id))["active"] is True
    assert (await OAuthAccount.get(id=bob.id)).status == OAuthAccountStatus.OK
    assert (await Scanner.get(id=bob_scanner.id)).last_error is None


async def test_an_account_needing_reauthorization_does_not_call_microsoft_again(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    microsoft_app.revoke_grant("alice")
    microsoft_app.expire_access_tokens()
    with pytest.raises(ReauthorizationNeeded):
        await get_access_token(account.id)
    calls = len(microsoft_app.requests)

    with pytest.raises(ReauthorizationNeeded, match="must be renewed"):
        await get_access_token(account.id)

    assert len(microsoft_app.requests) == calls


async def test_microsoft_unreachable_is_a_transient_error_not_a_reauthorization(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    microsoft_app.expire_access_tokens()
    microsoft_app.unreachable = True

    with pytest.raises(OAuthError, match="Could not reach Microsoft") as caught:
        await get_access_token(account.id)

    assert not isinstance(caught.value, ReauthorizationNeeded)
    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.OK
    microsoft_app.unreachable = False
    assert microsoft_app.introspect(await get_access_token(account.id))["active"] is True


async def test_a_wrong_client_secret_is_not_blamed_on_the_account(
        microsoft_app: FakeMicrosoft) -> None:
    account = await authorize(microsoft_app)
    microsoft_app.expire_access_tokens()
    app = await OAuthAppSettings.get()
    app.set_client_secret("an-expired-secret")
    await app.save()

    with pytest.raises(OAuthError, match="invalid_client") as caught:
        await get_access_token(account.id)

    assert not isinstance(caught.value, ReauthorizationNeeded)
    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.OK


async def test_an_account_with_an_empty_cache_needs_reauthorization(
        microsoft_app: FakeMicrosoft) -> None:
    account = await OAuthAccount.create(email="carol@contoso.example",
                                            subject="x.y")

    with pytest.raises(ReauthorizationNeeded):
        await get_access_token(account.id)

    assert (await OAuthAccount.get(id=account.id)).status == OAuthAccountStatus.REAUTH_NEEDED


async def test_workers_in_other_processes_never_lose_the_rotated_refresh_token(
        microsoft_app: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    # given no shared in-process lock, as between two worker processes: PostgreSQL's row
    # lock serializes them; elsewhere the loser sees the winner's new cache and retries
    account = await authorize(microsoft_app)
    microsoft_app.expire_access_tokens()
    monkeypatch.setattr(token_module, "_lock_for", lambda account_id: asyncio.Lock())

    tokens = await asyncio.gather(*(get_access_token(account.id) for _ in range(2)))

    assert tokens[0] == tokens[1]
    assert microsoft_app.introspect(tokens[0])["active"] is True
    assert microsoft_app.token_calls("refresh_token")[0]["status"] == 200
    stored = await OAuthAccount.get(id=account.id)
    assert stored.status == OAuthAccountStatus.OK
    [refresh_token] = stored_refresh_tokens(stored)
    assert microsoft_app.refresh_token_is_valid(refresh_token)
