"""Microsoft 365 app-only access: client-credentials tokens and errors that say what to fix."""
from __future__ import annotations

import jwt
import pytest

from mailscanner.models import OAuthAppSettings, OAuthProvider
from mailscanner.transport.errors import ErrorCode, OAuthError
from mailscanner.transport.providers.microsoft_app_only import (
    SMTP_ROLE,
    app_only_token,
    mailbox_refused,
)

from ...fixtures.microsoft import TENANT_ID, FakeMicrosoft


async def use_tenant(tenant: str, **changes: str) -> None:
    app = await OAuthAppSettings.get(provider=OAuthProvider.MICROSOFT)
    app.tenant = tenant
    for name, value in changes.items():
        if name == "client_secret":
            app.set_client_secret(value)
        else:
            setattr(app, name, value)
    await app.save()


@pytest.fixture
async def app_only(microsoft_app: FakeMicrosoft) -> FakeMicrosoft:
    await use_tenant(TENANT_ID)
    return microsoft_app


async def test_the_token_carries_the_app_permissions_and_is_reused_until_near_expiry(
        app_only: FakeMicrosoft) -> None:
    token = await app_only_token()

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "https://outlook.office365.com"
    assert "IMAP.AccessAsApp" in claims["roles"]
    assert await app_only_token() == token
    assert await app_only_token(SMTP_ROLE) == token
    assert len(app_only.app_token_calls()) == 1  # served from msal's cache

    app_only.expire_access_tokens()
    renewed = await app_only_token()

    assert renewed != token
    assert len(app_only.app_token_calls()) == 2


async def test_a_changed_secret_is_used_at_once(app_only: FakeMicrosoft) -> None:
    await app_only_token()
    app_only.client_secret = "the-new-secret"
    await use_tenant(TENANT_ID, client_secret="the-new-secret")

    await app_only_token()

    assert [c["status"] for c in app_only.app_token_calls()] == [200, 200]


async def test_a_multi_tenant_alias_asks_for_the_tenant_id(microsoft_app: FakeMicrosoft) -> None:
    with pytest.raises(OAuthError, match="needs your Directory \\(tenant\\) ID") as caught:
        await app_only_token()  # the fixture's tenant is "organizations"

    assert caught.value.code == ErrorCode.CONFIGURATION
    assert microsoft_app.app_token_calls() == []


async def test_an_unknown_tenant_is_named(app_only: FakeMicrosoft) -> None:
    await use_tenant("fabrikam.onmicrosoft.com")

    with pytest.raises(OAuthError, match="Microsoft does not know the tenant "
                                         "'fabrikam.onmicrosoft.com'"):
        await app_only_token()


async def test_a_wrong_secret_says_to_create_a_new_one(app_only: FakeMicrosoft) -> None:
    await use_tenant(TENANT_ID, client_secret="an-old-secret")

    with pytest.raises(OAuthError, match="the client secret is wrong or has expired"):
        await app_only_token()


async def test_a_wrong_client_id_names_the_tenant_it_was_looked_for_in(
        app_only: FakeMicrosoft) -> None:
    await use_tenant(TENANT_ID, client_id="00000000-1111-2222-3333-444444444444")

    with pytest.raises(OAuthError, match=f"no app with the client ID "
                       f"00000000-1111-2222-3333-444444444444 exists in the tenant {TENANT_ID}"):
        await app_only_token()


async def test_a_missing_application_permission_is_named(app_only: FakeMicrosoft) -> None:
    app_only.app_roles = {"SMTP.SendAsApp"}

    with pytest.raises(OAuthError, match="The app has no IMAP.AccessAsApp permission "
                       "\\(granted: SMTP.SendAsApp\\)") as caught:
        await app_only_token()

    assert caught.value.code == ErrorCode.OAUTH_PERMISSION_MISSING
    assert "Office 365 Exchange Online" in caught.value.message
    assert await app_only_token(SMTP_ROLE)  # sending is granted


def test_a_refused_mailbox_names_the_powershell_fix() -> None:
    error = mailbox_refused("support@contoso.example", "AUTHENTICATE failed")

    assert error.code == ErrorCode.OAUTH_MAILBOX_ACCESS
    assert "Add-MailboxPermission -Identity support@contoso.example" in error.message
    assert "New-ServicePrincipal" in error.message
