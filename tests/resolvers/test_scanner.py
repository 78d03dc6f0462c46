from __future__ import annotations

import json

from mailscanner.models import Scanner

from .conftest import Api

CREATE_SCANNER = """
mutation($input: ScannerInput!) {
  createScanner(input: $input) {
    __typename
    ... on ScannerPayload {
      scanner { id name active host effectivePort encryption hasPassword username }
    }
    ... on ValidationError { errors { field code message } }
  }
}"""

UPDATE_SCANNER = """
mutation($id: ID!, $input: ScannerInput!) {
  updateScanner(id: $id, input: $input) {
    __typename
    ... on ScannerPayload { scanner { name hasPassword } }
    ... on NotFoundError { message }
    ... on ValidationError { errors { field code } }
  }
}"""

ACTIVATE = """
mutation($id: ID!) { activateScanner(id: $id) {
  __typename
  ... on ValidationError { errors { field code message } }
  ... on ScannerActivated { scanner { active } } } }
"""

SCANNERS = "{ scanners { id name hasPassword health { failureCount lastError } } }"

GOOD = {"name": "Support", "host": "imap.example.com", "username": "support@example.com",
        "password": "s3cret-Pa55word", "encryption": "SSL"}


async def test_a_created_scanner_is_inactive_and_never_returns_its_password(api: Api) -> None:
    # when
    data = await api.gql(CREATE_SCANNER, {"input": GOOD})
    # then
    scanner = data["createScanner"]["scanner"]
    assert scanner["active"] is False
    assert scanner["hasPassword"] is True
    assert scanner["effectivePort"] == 993
    listed = await api.post(SCANNERS)
    assert "s3cret-Pa55word" not in listed.text
    row = await Scanner.get(id=int(scanner["id"]))
    assert "s3cret" not in (row.password_encrypted or "")
    assert row.get_password() == "s3cret-Pa55word"


async def test_the_password_field_cannot_be_queried(api: Api) -> None:
    await api.gql(CREATE_SCANNER, {"input": GOOD})
    response = await api.post("{ scanners { password } }")
    body = response.json()
    assert "Cannot query field 'password'" in body["errors"][0]["message"]
    introspection = await api.post('{ __type(name: "Scanner") { fields { name } } }')
    names = {f["name"] for f in introspection.json()["data"]["__type"]["fields"]}
    assert "hasPassword" in names
    assert not {n for n in names if "password" in n.lower()} - {"hasPassword"}


async def test_updating_without_password_keeps_it(api: Api) -> None:
    created = await api.gql(CREATE_SCANNER, {"input": GOOD})
    sid = created["createScanner"]["scanner"]["id"]
    data = await api.gql(UPDATE_SCANNER, {"id": sid, "input": {"name": "Renamed"}})
    assert data["updateScanner"]["scanner"] == {"name": "Renamed", "hasPassword": True}
    row = await Scanner.get(id=int(sid))
    assert row.get_password() == "s3cret-Pa55word"


async def test_a_bad_host_is_invalid_host_on_input_host(api: Api) -> None:
    data = await api.gql(CREATE_SCANNER, {"input": {**GOOD, "host": "imaps://imap.example.com:993"}})
    result = data["createScanner"]
    assert result["__typename"] == "ValidationError"
    assert [(e["field"], e["code"]) for e in result["errors"]] == [("input.host", "INVALID_HOST")]


async def test_several_problems_are_reported_together(api: Api) -> None:
    data = await api.gql(
        CREATE_SCANNER, {"input": {"name": "", "host": "", "port": 70000, "username": "u"}}
    )
    fields = {(e["field"], e["code"]) for e in data["createScanner"]["errors"]}
    assert fields == {
        ("input.name", "REQUIRED"),
        ("input.host", "REQUIRED"),
        ("input.port", "INVALID_PORT"),
    }


async def test_scanner_names_are_unique(api: Api) -> None:
    await api.gql(CREATE_SCANNER, {"input": GOOD})
    data = await api.gql(CREATE_SCANNER, {"input": GOOD})
    assert data["createScanner"]["errors"] == [
        {
            "field": "input.name",
            "code": "UNIQUE",
            "message": "Another scanner already has this name",
        }
    ]


async def test_activation_needs_an_active_rule(api: Api) -> None:
    created = await api.gql(CREATE_SCANNER, {"input": GOOD})
    sid = created["createScanner"]["scanner"]["id"]
    data = await api.gql(ACTIVATE, {"id": sid})
    assert data["activateScanner"]["__typename"] == "ValidationError"
    assert "rule" in data["activateScanner"]["errors"][0]["message"]


async def test_update_of_a_missing_scanner_is_not_found(api: Api) -> None:
    data = await api.gql(UPDATE_SCANNER, {"id": "4242", "input": {"name": "x"}})
    assert data["updateScanner"] == {
        "__typename": "NotFoundError",
        "message": "Scanner 4242 not found",
    }


async def test_agents_cannot_see_scanners(api: Api) -> None:
    await api.gql(CREATE_SCANNER, {"input": GOOD})
    response = await api.post(SCANNERS, token="agent")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Only administrators may do this"
    assert "s3cret" not in json.dumps(body)


async def test_an_update_cannot_blank_the_host_any_more_than_a_create_can(api: Api) -> None:
    created = await api.gql(CREATE_SCANNER, {"input": GOOD})
    sid = created["createScanner"]["scanner"]["id"]
    for host in ("", "   "):
        data = await api.gql(UPDATE_SCANNER, {"id": sid, "input": {"host": host}})
        assert data["updateScanner"] == {
            "__typename": "ValidationError",
            "errors": [{"field": "input.host", "code": "REQUIRED"}],
        }
    assert (await Scanner.get(id=int(sid))).host == "imap.example.com"


async def test_a_bad_interval_is_reported_on_the_field_scan_interval_minutes(api: Api) -> None:
    data = await api.gql(CREATE_SCANNER, {"input": {**GOOD, "scanIntervalMinutes": 0}})
    errors = data["createScanner"]["errors"]
    assert [e["field"] for e in errors] == ["input.scanIntervalMinutes"]
    assert "between 1 and 1440" in errors[0]["message"]


async def test_a_mailbox_on_a_reserved_test_domain_is_accepted_with_an_explicit_address(
    api: Api,
) -> None:
    data = await api.gql(CREATE_SCANNER, {"input": {
        **GOOD, "username": "helpdesk01", "mailboxName": "support@helpdesk.test",
        "address": "Help@Helpdesk.test"}})
    assert data["createScanner"]["__typename"] == "ScannerPayload", data
    row = await Scanner.get(id=int(data["createScanner"]["scanner"]["id"]))
    assert row.mailbox_name == "support@helpdesk.test" and row.address == "Help@helpdesk.test"
    bad = await api.gql(CREATE_SCANNER, {"input": {**GOOD, "name": "x", "address": "nope"}})
    assert [e["field"] for e in bad["createScanner"]["errors"]] == ["input.address"]
