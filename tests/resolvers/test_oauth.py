from __future__ import annotations

from mailscanner.models import OAuthAccount, OAuthAppSettings, OAuthProvider, Scanner

from ..fixtures.google import FakeGoogle
from ..fixtures.microsoft import FakeMicrosoft
from .conftest import Api

SETTINGS = """{ oauthAppSettings {
    clientId tenant hasClientSecret authorityHost redirectUrl scopes
} }"""

UPDATE_SETTINGS = """
mutation($input: OAuthAppSettingsInput!) {
  updateOAuthAppSettings(input: $input) {
    __typename
    ... on OAuthAppSettingsPayload { settings { clientId tenant hasClientSecret } }
    ... on ValidationError { errors { field code message } }
  }
}"""

START = """
mutation { startMicrosoftAuthorization {
  __typename
  ... on MicrosoftAuthorization { authorizationUrl expiresAt }
  ... on OAuthSetupError { message }
} }"""

ACCOUNTS = "{ microsoftAccounts { id email status statusReason authorizedAt } }"

REMOVE = """
mutation($id: ID!) { removeMicrosoftAccount(id: $id) {
  __typename
  ... on RemoveMicrosoftAccountPayload { id }
  ... on MicrosoftAccountInUseError { message usedBySmtp scanners { id name } }
  ... on NotFoundError { message }
} }"""

CREATE_SCANNER = """
mutation($input: ScannerInput!) { createScanner(input: $input) {
  __typename ... on ScannerPayload { scanner { id oauthAccountId } }
  ... on ValidationError { errors { field code } }
} }"""

DELETE_SCANNER = "mutation($id: ID!) { deleteScanner(id: $id) { __typename } }"


async def configure(api: Api, fake: FakeMicrosoft) -> None:
    data = await api.gql(UPDATE_SETTINGS, {"input": {
        "clientId": fake.client_id, "tenant": "organizations", "clientSecret": fake.client_secret}})
    assert data["updateOAuthAppSettings"]["__typename"] == "OAuthAppSettingsPayload"


async def authorize(api: Api, fake: FakeMicrosoft, login: str = "alice") -> str:
    """Admin clicks "Make new authorization", signs in at Microsoft, lands on the callback."""
    start = (await api.gql(START))["startMicrosoftAuthorization"]
    assert start["__typename"] == "MicrosoftAuthorization"
    page = await api.client.post("/oauth/microsoft/callback",
                                 data=fake.login(start["authorizationUrl"], login))
    assert page.status_code == 200, page.text
    accounts = (await api.gql(ACCOUNTS))["microsoftAccounts"]
    return str(next(a["id"] for a in accounts if a["email"] == fake.users[login].email))


async def test_the_settings_show_the_redirect_url_to_register_in_azure(api: Api) -> None:
    data = await api.gql(SETTINGS)

    assert data["oauthAppSettings"] == {
        "clientId": "", "tenant": "common", "hasClientSecret": False,
        "authorityHost": "https://login.microsoftonline.com",
        "redirectUrl": "http://127.0.0.1:8000/oauth/microsoft/callback",
        "scopes": ["https://outlook.office.com/IMAP.AccessAsUser.All",
                   "https://outlook.office.com/SMTP.Send", "offline_access"]}


async def test_the_client_secret_is_write_only_and_stored_encrypted(api: Api) -> None:
    # when
    data = await api.gql(UPDATE_SETTINGS, {"input": {
        "clientId": "11111111-2222-3333-4444-555555555555", "clientSecret": "s3cret~Value"}})
    # then
    assert data["updateOAuthAppSettings"]["settings"]["hasClientSecret"] is True
    row = await OAuthAppSettings.get()
    assert "s3cret" not in (row.client_secret_encrypted or "")
    assert row.get_client_secret() == "s3cret~Value"
    response = await api.post("{ oauthAppSettings { clientSecret } }")
    assert "Cannot query field 'clientSecret'" in response.json()["errors"][0]["message"]
    # and an empty secret removes it
    cleared = await api.gql(UPDATE_SETTINGS, {"input": {"clientSecret": ""}})
    assert cleared["updateOAuthAppSettings"]["settings"]["hasClientSecret"] is False


async def test_bad_settings_are_rejected_field_by_field(api: Api) -> None:
    data = await api.gql(UPDATE_SETTINGS, {"input": {
        "clientId": "my-app", "tenant": "contoso .com", "authorityHost": "http://login.example"}})

    result = data["updateOAuthAppSettings"]
    assert result["__typename"] == "ValidationError"
    assert [e["field"] for e in result["errors"]] == [
        "input.clientId", "input.tenant", "input.authorityHost"]
    assert (await api.gql(SETTINGS))["oauthAppSettings"]["clientId"] == ""


async def test_agents_cannot_see_or_change_oauth_settings(api: Api) -> None:
    response = await api.post(SETTINGS, token="agent")

    assert response.json()["errors"][0]["message"] == "Only administrators may do this"


async def test_authorization_needs_the_app_registration_first(api: Api) -> None:
    data = await api.gql(START)

    assert data["startMicrosoftAuthorization"]["__typename"] == "OAuthSetupError"
    assert "client ID and secret" in data["startMicrosoftAuthorization"]["message"]


async def test_an_authorized_account_is_listed_and_selectable_by_a_scanner(
        api: Api, microsoft: FakeMicrosoft) -> None:
    await configure(api, microsoft)

    account_id = await authorize(api, microsoft)

    [account] = (await api.gql(ACCOUNTS))["microsoftAccounts"]
    assert account["email"] == "alice@contoso.example"
    assert account["status"] == "OK"
    created = await api.gql(CREATE_SCANNER, {"input": {
        "name": "Support", "host": "outlook.office365.com", "authType": "MICROSOFT_OAUTH",
        "mailboxName": "support@contoso.example", "oauthAccountId": account_id}})
    assert created["createScanner"]["scanner"]["oauthAccountId"] == account_id


async def test_an_account_in_use_cannot_be_removed(api: Api, microsoft: FakeMicrosoft) -> None:
    # given alice's account used by a scanner
    await configure(api, microsoft)
    account_id = await authorize(api, microsoft)
    created = await api.gql(CREATE_SCANNER, {"input": {
        "name": "Support", "host": "outlook.office365.com", "authType": "MICROSOFT_OAUTH",
        "mailboxName": "support@contoso.example", "oauthAccountId": account_id}})
    scanner_id = created["createScanner"]["scanner"]["id"]

    # when it is removed, it is refused with the scanners using it
    refused = (await api.gql(REMOVE, {"id": account_id}))["removeMicrosoftAccount"]
    assert refused["__typename"] == "MicrosoftAccountInUseError"
    assert refused["scanners"] == [{"id": scanner_id, "name": "Support"}]
    assert refused["usedBySmtp"] is False
    assert "scanner 'Support'" in refused["message"]
    assert await OAuthAccount.exists(id=int(account_id))

    # then, once the scanner is gone, it can be removed
    await api.gql(DELETE_SCANNER, {"id": scanner_id})
    removed = (await api.gql(REMOVE, {"id": account_id}))["removeMicrosoftAccount"]
    assert removed == {"__typename": "RemoveMicrosoftAccountPayload", "id": account_id}
    assert (await api.gql(ACCOUNTS))["microsoftAccounts"] == []


async def test_removing_an_unknown_account_says_not_found(api: Api) -> None:
    data = await api.gql(REMOVE, {"id": "999"})

    assert data["removeMicrosoftAccount"]["__typename"] == "NotFoundError"


# -- Google ----------------------------------------------------------------------------------

GOOGLE_SETTINGS = "{ googleAppSettings { clientId hasClientSecret redirectUrl scopes } }"

UPDATE_GOOGLE = """
mutation($input: GoogleAppSettingsInput!) {
  updateGoogleAppSettings(input: $input) {
    __typename
    ... on GoogleAppSettingsPayload { settings { clientId hasClientSecret } }
    ... on ValidationError { errors { field code message } }
  }
}"""

START_GOOGLE = """
mutation($scannerId: ID) { startGoogleAuthorization(scannerId: $scannerId) {
  __typename
  ... on GoogleAuthorization { authorizationUrl expiresAt }
  ... on OAuthSetupError { message }
  ... on NotFoundError { message }
} }"""

GOOGLE_ACCOUNTS = "{ googleAccounts { id email status } }"

SCANNER_ERRORS = """
mutation($input: ScannerInput!) { createScanner(input: $input) {
  __typename ... on ScannerPayload { scanner { id oauthAccountId microsoftAuth } }
  ... on ValidationError { errors { field code message } }
} }"""


async def configure_google(api: Api, fake: FakeGoogle) -> None:
    data = await api.gql(UPDATE_GOOGLE, {"input": {
        "clientId": fake.client_id, "clientSecret": fake.client_secret}})
    assert data["updateGoogleAppSettings"]["__typename"] == "GoogleAppSettingsPayload"


async def authorize_google(api: Api, fake: FakeGoogle, email: str,
                           scanner_id: str | None = None) -> str:
    """Admin clicks "Make new authorization", signs in at Google, lands on the callback."""
    start = (await api.gql(START_GOOGLE, {"scannerId": scanner_id}))["startGoogleAuthorization"]
    assert start["__typename"] == "GoogleAuthorization", start
    page = await api.client.get("/oauth/google/callback",
                                params=fake.login(start["authorizationUrl"], email))
    assert page.status_code == 200, page.text
    accounts = (await api.gql(GOOGLE_ACCOUNTS))["googleAccounts"]
    return str(next(a["id"] for a in accounts if a["email"] == email))


async def test_the_google_settings_show_the_redirect_url_and_keep_the_secret(api: Api) -> None:
    data = await api.gql(UPDATE_GOOGLE, {"input": {
        "clientId": "123456789012-abcdef.apps.googleusercontent.com",
        "clientSecret": "GOCSPX-s3cret"}})

    assert data["updateGoogleAppSettings"]["settings"]["hasClientSecret"] is True
    assert (await api.gql(GOOGLE_SETTINGS))["googleAppSettings"] == {
        "clientId": "123456789012-abcdef.apps.googleusercontent.com", "hasClientSecret": True,
        "redirectUrl": "http://127.0.0.1:8000/oauth/google/callback",
        "scopes": ["https://mail.google.com/", "openid", "email"]}
    row = await OAuthAppSettings.get(provider=OAuthProvider.GOOGLE)
    assert "s3cret" not in (row.client_secret_encrypted or "")
    # the Microsoft registration is a row of its own, untouched
    assert (await api.gql(SETTINGS))["oauthAppSettings"]["clientId"] == ""


async def test_a_client_id_that_is_not_googles_is_rejected(api: Api) -> None:
    data = await api.gql(UPDATE_GOOGLE, {"input": {"clientId": "my-app"}})

    result = data["updateGoogleAppSettings"]
    assert result["__typename"] == "ValidationError"
    assert [e["field"] for e in result["errors"]] == ["input.clientId"]
    assert ".apps.googleusercontent.com" in result["errors"][0]["message"]


async def test_google_authorization_needs_the_client_first(api: Api) -> None:
    data = await api.gql(START_GOOGLE)

    assert data["startGoogleAuthorization"]["__typename"] == "OAuthSetupError"
    assert "updateGoogleAppSettings" in data["startGoogleAuthorization"]["message"]


async def test_a_google_account_is_listed_and_opens_only_its_own_mailbox(
        api: Api, google: FakeGoogle) -> None:
    await configure_google(api, google)
    account_id = await authorize_google(api, google, "support@example.org")

    assert (await api.gql(GOOGLE_ACCOUNTS))["googleAccounts"] == [
        {"id": account_id, "email": "support@example.org", "status": "OK"}]
    assert (await api.gql(ACCOUNTS))["microsoftAccounts"] == []
    # a scanner on another mailbox is refused, nothing is saved
    refused = (await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Sales", "host": "imap.gmail.com", "authType": "GOOGLE_OAUTH",
        "mailboxName": "sales@example.org", "oauthAccountId": account_id}}))["createScanner"]
    assert refused["__typename"] == "ValidationError"
    assert refused["errors"][0]["field"] == "input.mailboxName"
    assert "can open only its own mailbox" in refused["errors"][0]["message"]
    assert await Scanner.all().count() == 0
    created = (await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Support", "host": "imap.gmail.com", "authType": "GOOGLE_OAUTH",
        "mailboxName": "Support@Example.org", "oauthAccountId": account_id}}))["createScanner"]
    assert created["scanner"]["oauthAccountId"] == account_id


async def test_a_scanner_refuses_an_account_of_the_other_provider(
        api: Api, google: FakeGoogle) -> None:
    await configure_google(api, google)
    account_id = await authorize_google(api, google, "support@example.org")

    refused = (await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Support", "host": "outlook.office365.com", "authType": "MICROSOFT_OAUTH",
        "mailboxName": "support@example.org", "oauthAccountId": account_id}}))["createScanner"]

    assert refused["errors"] == [{"field": "input.oauthAccountId", "code": "NOT_FOUND",
                                  "message": "No such authorized Microsoft account"}]


async def test_authorizing_for_a_scanner_selects_the_account_there(
        api: Api, google: FakeGoogle) -> None:
    await configure_google(api, google)
    created = (await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Support", "host": "imap.gmail.com", "authType": "GOOGLE_OAUTH",
        "mailboxName": "support@example.org"}}))["createScanner"]
    scanner_id = created["scanner"]["id"]

    account_id = await authorize_google(api, google, "support@example.org", scanner_id)

    assert (await Scanner.get(id=int(scanner_id))).oauth_account_id == int(account_id)  # type: ignore[attr-defined]


async def test_an_app_only_scanner_needs_no_account(api: Api) -> None:
    created = (await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Support", "host": "outlook.office365.com", "authType": "MICROSOFT_OAUTH",
        "microsoftAuth": "APP_ONLY", "mailboxName": "support@contoso.example"}}))["createScanner"]

    assert created["scanner"]["microsoftAuth"] == "APP_ONLY"
    assert created["scanner"]["oauthAccountId"] is None


async def test_a_google_account_in_use_cannot_be_removed(api: Api, google: FakeGoogle) -> None:
    await configure_google(api, google)
    account_id = await authorize_google(api, google, "support@example.org")
    await api.gql(SCANNER_ERRORS, {"input": {
        "name": "Support", "host": "imap.gmail.com", "authType": "GOOGLE_OAUTH",
        "mailboxName": "support@example.org", "oauthAccountId": account_id}})
    remove = """mutation($id: ID!) { removeGoogleAccount(id: $id) { __typename
        ... on GoogleAccountInUseError { message } } }"""

    refused = (await api.gql(remove, {"id": account_id}))["removeGoogleAccount"]
    # a Google account id is not a Microsoft account
    wrong_kind = (await api.gql(REMOVE, {"id": account_id}))["removeMicrosoftAccount"]

    assert refused["__typename"] == "GoogleAccountInUseError"
    assert "scanner 'Support'" in refused["message"]
    assert wrong_kind["__typename"] == "NotFoundError"
    assert await OAuthAccount.exists(id=int(account_id))
