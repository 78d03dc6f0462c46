from __future__ import annotations

from mailscanner.models import OAuthAccount, OAuthAppSettings

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
