"""A scanner logs in to a real Dovecot with XOAUTH2 using tokens from the fake Microsoft.

Dovecot's oauth2 passdb asks a real HTTP introspection endpoint about each bearer token; the
endpoint answers from the fake authority's live state (fixtures/microsoft.py), as Exchange
would: the token opens a shared mailbox (a fresh Dovecot user) that the authorized user alice may
open, expires when its lifetime is over, and dies when the grant is revoked.
"""
from __future__ import annotations

import email.message
import json

import httpx2
import imapclient
import pytest
from imapclient.exceptions import LoginError
from starlette.applications import Starlette
from starlette.routing import Route

from mailscanner.models import (
    AuthType,
    Encryption,
    MicrosoftAuth,
    OAuthAccount,
    OAuthAccountStatus,
    OAuthAppSettings,
    OAuthProvider,
    Scanner,
)
from mailscanner.resolvers.oauth_callback import microsoft_callback
from mailscanner.scanning.connect import open_session, test_connection
from mailscanner.transport.errors import ReauthorizationNeeded
from mailscanner.transport.providers.flows import start_authorization
from mailscanner.transport.providers.microsoft import PROVIDER
from mailscanner.transport.providers.tokens import get_access_token

from ..fixtures.dovecot import DovecotServer, ImapUser
from ..fixtures.microsoft import TENANT_ID, FakeMicrosoft

pytestmark = pytest.mark.integration

PUBLIC_URL = "https://crm.example.com"
CALLBACK_PATH = PROVIDER.callback_path


def message(subject: str) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "customer@example.org"
    msg["To"] = "support@contoso.example"
    msg["Subject"] = subject
    msg.set_content("Hello")
    return msg.as_bytes()


async def authorize_in_browser(fake: FakeMicrosoft, login: str) -> OAuthAccount:
    """The admin's round trip: login URL -> Microsoft sign-in -> our callback page."""
    start = await start_authorization(OAuthProvider.MICROSOFT, PUBLIC_URL)
    app = Starlette(
        routes=[Route(CALLBACK_PATH, microsoft_callback, methods=["GET", "POST"])]
    )
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url=PUBLIC_URL) as browser:
        page = await browser.post(CALLBACK_PATH,
                                  data=fake.login(start.authorization_url, login))
    assert page.status_code == 200, page.text
    return await OAuthAccount.get(email=fake.users[login].email)


async def oauth_scanner(dovecot: DovecotServer, mailbox: ImapUser,
                        account: OAuthAccount) -> Scanner:
    return await Scanner.create(
        name=f"scanner {mailbox.name}", host="127.0.0.1", port=dovecot.imap_port,
        encryption=Encryption.STARTTLS, validate_certificate=True,
        auth_type=AuthType.MICROSOFT_OAUTH, mailbox_name=mailbox.name, oauth_account=account)


async def inbox_subjects(scanner: Scanner) -> list[str]:
    """What a scan does first: log in as the scanner (XOAUTH2), open INBOX, read messages."""
    async with await open_session(scanner) as session:
        await session.select("INBOX")
        uids = await session.search(["ALL"])
        fetched = await session.fetch(uids)
    return [str(email.message_from_bytes(m.raw)["Subject"]) for m in fetched]


def stored_refresh_token(cache_json: str) -> str:
    [entry] = json.loads(cache_json)["RefreshToken"].values()
    return str(entry["secret"])


@pytest.fixture
def support(microsoft_dovecot: DovecotServer, microsoft: FakeMicrosoft,
            monkeypatch: pytest.MonkeyPatch) -> ImapUser:
    """The shared mailbox alice may open, holding one customer mail; TLS trusts Dovecot's cert."""
    mailbox = microsoft_dovecot.add_user()
    mailbox.append("INBOX", [message("Printer on fire")])
    microsoft.users["alice"].mailboxes = (mailbox.name,)
    monkeypatch.setenv("SSL_CERT_FILE", microsoft_dovecot.ca_file)
    return mailbox


async def test_a_scanner_reads_the_shared_mailbox_and_survives_token_expiry(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    # given alice authorized in the browser and a scanner on the support mailbox
    account = await authorize_in_browser(microsoft_app, "alice")
    scanner = await oauth_scanner(microsoft_dovecot, support, account)
    first_refresh = stored_refresh_token(account.get_token_data())

    # when the scanner logs in with XOAUTH2 as the mailbox
    assert await inbox_subjects(scanner) == ["Printer on fire"]
    old_access = await get_access_token(account.id)
    assert microsoft_app.token_calls("refresh_token") == []

    # then, once the access token has expired, Dovecot refuses it ...
    microsoft_app.expire_access_tokens()
    with (pytest.raises(LoginError),
          imapclient.IMAPClient("127.0.0.1", port=microsoft_dovecot.imap_port, ssl=False) as c):
        c.oauth2_login(support.name, old_access)
    # ... and the next scan refreshes, logs in and reads the mailbox
    assert await inbox_subjects(scanner) == ["Printer on fire"]
    assert [c["status"] for c in microsoft_app.token_calls("refresh_token")] == [200]
    stored = await OAuthAccount.get(id=account.id)
    new_refresh = stored_refresh_token(stored.get_token_data())
    assert new_refresh != first_refresh
    assert microsoft_app.refresh_token_is_valid(new_refresh)
    assert not microsoft_app.refresh_token_is_valid(first_refresh)


async def test_the_token_does_not_open_a_mailbox_the_account_may_not_open(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    account = await authorize_in_browser(microsoft_app, "alice")
    someone_else = microsoft_dovecot.add_user()
    scanner = await oauth_scanner(microsoft_dovecot, someone_else, account)

    report = await test_connection(scanner)

    assert not report.ok
    assert report.error_code is not None and report.error_code.value == "LOGIN_REJECTED"


async def test_a_revoked_grant_shows_reauthorization_needed_and_spares_other_accounts(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    # given alice's scanner on support and bob's scanner on his own mailbox
    sales = microsoft_dovecot.add_user()
    sales.append("INBOX", [message("Quote request")])
    microsoft_app.users["bob"].mailboxes = (sales.name,)
    alice = await authorize_in_browser(microsoft_app, "alice")
    bob = await authorize_in_browser(microsoft_app, "bob")
    alice_scanner = await oauth_scanner(microsoft_dovecot, support, alice)
    bob_scanner = await oauth_scanner(microsoft_dovecot, sales, bob)
    assert await inbox_subjects(alice_scanner) == ["Printer on fire"]

    # when alice's consent is revoked and her access token runs out
    microsoft_app.revoke_grant("alice")
    microsoft_app.expire_access_tokens()

    # then her scanner reports that re-authorization is needed
    with pytest.raises(ReauthorizationNeeded):
        await inbox_subjects(alice_scanner)
    report = await test_connection(alice_scanner)
    assert report.error_code is not None and report.error_code.value == "OAUTH_REAUTH_REQUIRED"
    health = await Scanner.get(id=alice_scanner.id)
    assert (health.last_error or "").startswith("Re-authorization needed for alice@contoso.example")
    assert (await OAuthAccount.get(id=alice.id)).status == OAuthAccountStatus.REAUTH_NEEDED
    # and bob's scanner still reads his mailbox
    assert await inbox_subjects(bob_scanner) == ["Quote request"]
    assert (await Scanner.get(id=bob_scanner.id)).last_error is None


# -- app-only (client credentials, no user) -------------------------------------------------

async def app_only_scanner(dovecot: DovecotServer, mailbox: ImapUser) -> Scanner:
    app = await OAuthAppSettings.get(provider=OAuthProvider.MICROSOFT)
    app.tenant = TENANT_ID  # app-only needs the real tenant, not "organizations"
    await app.save()
    return await Scanner.create(
        name=f"app-only {mailbox.name}", host="127.0.0.1", port=dovecot.imap_port,
        encryption=Encryption.STARTTLS, auth_type=AuthType.MICROSOFT_OAUTH,
        microsoft_auth=MicrosoftAuth.APP_ONLY, mailbox_name=mailbox.name)


async def test_an_app_only_scanner_reads_the_mailbox_its_service_principal_was_given(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    microsoft_app.service_principal_mailboxes = {support.name}
    scanner = await app_only_scanner(microsoft_dovecot, support)

    assert await inbox_subjects(scanner) == ["Printer on fire"]
    assert await inbox_subjects(scanner) == ["Printer on fire"]
    assert len(microsoft_app.app_token_calls()) == 1  # the token is reused
    assert microsoft_app.token_calls("authorization_code") == []  # nobody signed in


async def test_an_app_only_scanner_without_mailbox_access_says_add_mailbox_permission(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    microsoft_app.service_principal_mailboxes = {"someone-else"}
    scanner = await app_only_scanner(microsoft_dovecot, support)

    report = await test_connection(scanner)

    assert report.error_code is not None and report.error_code.value == "OAUTH_MAILBOX_ACCESS"
    assert f"Add-MailboxPermission -Identity {support.name}" in (report.error_message or "")


async def test_an_app_only_scanner_without_imap_permission_names_it(
        microsoft_app: FakeMicrosoft, microsoft_dovecot: DovecotServer, support: ImapUser) -> None:
    microsoft_app.service_principal_mailboxes = {support.name}
    microsoft_app.app_roles = {"SMTP.SendAsApp"}
    scanner = await app_only_scanner(microsoft_dovecot, support)

    report = await test_connection(scanner)

    assert report.error_code is not None and report.error_code.value == "OAUTH_PERMISSION_MISSING"
    assert "IMAP.AccessAsApp" in (report.error_message or "")
