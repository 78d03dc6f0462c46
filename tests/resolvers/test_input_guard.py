"""Inputs the databases cannot take, or that have no business being that big, are typed
errors, the same on PostgreSQL and SQLite, and nothing is stored half-way."""
from __future__ import annotations

import json
from typing import Any

import pytest

from mailscanner import models
from mailscanner.schema.limits import MAX_RULES_PER_SCANNER

from .conftest import Api

CREATE_TICKET = """mutation($input: CreateTicketInput!) { createTicket(input: $input) {
  __typename ... on ValidationError { errors { field code message } } } }"""
UPDATE_TICKET = """mutation($id: ID!) { updateTicket(id: $id, input: {title: "x"}) {
  __typename ... on NotFoundError { message } } }"""
CREATE_SCANNER = """mutation($input: ScannerInput!) { createScanner(input: $input) {
  __typename ... on ValidationError { errors { field code message } } } }"""
CREATE_RULE = """mutation($sid: ID!, $input: RuleInput!) {
  createRule(scannerId: $sid, input: $input) {
  __typename ... on ValidationError { errors { field code message } } } }"""
CREATE_CONTACT = """mutation($input: ContactInput!) { createContact(input: $input) {
  __typename ... on ValidationError { errors { field code } } } }"""

HUGE_IDS = [str(2**31), str(2**63), str(2**64), "9" * 40]


async def _gql(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Like api.gql, with the body made by json.dumps: its ASCII escapes can carry lone
    surrogates (as any JSON client can send them)."""
    response = await api.client.post(
        "/graphql", content=json.dumps({"query": query, "variables": variables}),
        headers={"Authorization": f"Bearer {api.admin_token}",
                 "Content-Type": "application/json"})
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


def _only_error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["__typename"] == "ValidationError", result
    assert len(result["errors"]) == 1, result
    error: dict[str, Any] = result["errors"][0]
    return error


@pytest.mark.parametrize("huge", HUGE_IDS)
async def test_an_id_out_of_the_databases_range_is_simply_not_found(api: Api, huge: str) -> None:
    update = await api.gql(UPDATE_TICKET, {"id": huge})
    assert update["updateTicket"]["__typename"] == "NotFoundError"
    looked_up = await api.gql("query($id: ID!) { ticket(id: $id) { id } contact(id: $id) { id } }",
                              {"id": huge})
    assert looked_up == {"ticket": None, "contact": None}
    filtered = await api.gql("query($id: ID!) { tickets(where: {assigneeId: $id}) { totalCount }"
                             " rules(scannerId: $id) { id } }", {"id": huge})
    assert filtered == {"tickets": {"totalCount": 0}, "rules": []}
    # an id inside an input names the field
    created = await api.gql(CREATE_TICKET, {"input": {"title": "t", "contactId": huge}})
    error = _only_error(created["createTicket"])
    assert (error["field"], error["code"]) == ("input.contactId", "NOT_FOUND")
    assert await models.Ticket.all().count() == 0


@pytest.mark.parametrize(("text", "code"), [
    ("Printer \x00 on fire", "INVALID_CHARACTERS"),
    ("Printer \ud800 on fire", "INVALID_CHARACTERS"),
    ("x" * 999, "TOO_LONG"),
])
async def test_text_no_database_can_store_is_a_validation_error(api: Api, text: str,
                                                                code: str) -> None:
    result = (await _gql(api, CREATE_TICKET, {"input": {"title": text}}))["createTicket"]
    error = _only_error(result)
    assert (error["field"], error["code"]) == ("input.title", code)
    assert await models.Ticket.all().count() == 0


async def test_a_lone_surrogate_in_a_nested_list_names_its_position(api: Api) -> None:
    scanner = await models.Scanner.create(name="s", host="127.0.0.1", username="u")
    result = (await _gql(api, CREATE_RULE, {"sid": str(scanner.id), "input": {
        "name": "r", "folders": ["INBOX", "A\ud800"], "conditionText": 'subject contains "x"'}}
    ))["createRule"]
    error = _only_error(result)
    assert (error["field"], error["code"]) == ("input.folders[1]", "INVALID_CHARACTERS")
    assert await models.Rule.all().count() == 0


async def test_a_ten_thousand_character_username_is_too_long_and_nothing_is_saved(
        api: Api) -> None:
    result = (await api.gql(CREATE_SCANNER, {"input": {
        "name": "Support", "host": "imap.example.com", "username": "u" * 10_000}}
    ))["createScanner"]
    error = _only_error(result)
    assert (error["field"], error["code"]) == ("input.username", "TOO_LONG")
    assert "320" in error["message"]
    assert await models.Scanner.all().count() == 0


async def test_a_one_megabyte_contact_search_is_a_typed_error(api: Api) -> None:
    response = await api.post("query($s: String) { contacts(search: $s) { totalCount } }",
                              {"s": "a" * 1_000_000}, token="agent")
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "TOO_LONG", "field": "search"}
    assert len(response.content) < 1_000


async def test_a_huge_filter_list_is_too_many(api: Api) -> None:
    response = await api.post("query($s: [TicketStatus!]) { tickets(where: {status: $s}) "
                              "{ totalCount } }", {"s": ["OPEN"] * 100_000}, token="agent")
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "TOO_MANY", "field": "where.status"}


async def test_descriptions_bodies_and_rules_have_documented_bounds(api: Api) -> None:
    # a description over 100,000 characters
    result = (await api.gql(CREATE_TICKET, {"input": {"title": "t", "description": "d" * 100_001}}
                            ))["createTicket"]
    assert _only_error(result)["code"] == "TOO_LONG"
    # a comment body over 100,000 characters
    ticket = await models.Ticket.create(number="TT9", title="t")
    comment = await api.gql("mutation($t: ID!, $b: String!) { addComment(ticketId: $t, body: $b)"
                            " { __typename ... on ValidationError { errors { field code } } } }",
                            {"t": str(ticket.id), "b": "b" * 100_001})
    assert comment["addComment"]["errors"] == [{"field": "body", "code": "TOO_LONG"}]
    # a rule with 30,000 actions (as many as fit in 1 MiB), and one with 100,000 folders
    scanner = await models.Scanner.create(name="s", host="127.0.0.1", username="u")
    base = {"name": "r", "folders": ["INBOX"], "conditionText": 'subject contains "x"'}
    many_actions = {**base, "actions": [{"type": "delete_message"}] * 30_000}
    many_folders = {**base, "folders": ["INBOX"] * 100_000}
    for rule, field in ((many_actions, "input.actions"), (many_folders, "input.folders")):
        result = (await api.gql(CREATE_RULE, {"sid": str(scanner.id), "input": rule}))
        error = _only_error(result["createRule"])
        assert (error["field"], error["code"]) == (field, "TOO_MANY")
    assert await models.Rule.all().count() == 0
    assert await models.Comment.all().count() == 0


async def test_nul_inside_a_json_action_is_refused_before_the_database(api: Api) -> None:
    scanner = await models.Scanner.create(name="s", host="127.0.0.1", username="u")
    result = (await api.gql(CREATE_RULE, {"sid": str(scanner.id), "input": {
        "name": "r", "folders": ["INBOX"], "conditionText": 'subject contains "x"',
        "actions": [{"type": "move_to_folder", "folder": "Done\x00"}]}}))["createRule"]
    error = _only_error(result)
    assert (error["field"], error["code"]) == ("input.actions[0].folder", "INVALID_CHARACTERS")


async def test_an_agent_without_the_right_gets_the_denial_not_the_input_check(api: Api) -> None:
    body = (await api.post(CREATE_SCANNER, {"input": {"name": "n" * 5000, "host": "h"}},
                           token="agent")).json()
    assert body["errors"][0]["message"] == "Only administrators may do this"
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


async def test_an_error_list_stays_short_however_many_items_are_wrong(api: Api) -> None:
    scanner = await models.Scanner.create(name="s", host="127.0.0.1", username="u")
    result = await api.gql("mutation($s: ID!, $ids: [ID!]!) { reorderRules(scannerId: $s, "
                           "ruleIds: $ids) { __typename ... on ValidationError { errors "
                           "{ field } } } }", {"s": str(scanner.id), "ids": ["x"] * 500})
    assert len(result["reorderRules"]["errors"]) == 20


async def test_a_scanner_holds_at_most_the_rules_reorder_rules_can_list(api: Api) -> None:
    scanner = await models.Scanner.create(name="s", host="127.0.0.1", username="u")
    condition = {"v": 1, "field": "subject", "op": "contains", "value": "x"}
    await models.Rule.bulk_create([
        models.Rule(scanner=scanner, name=f"r{i}", folders=["INBOX"], condition=condition,
                    actions=[], sequence=i) for i in range(MAX_RULES_PER_SCANNER)])
    result = (await api.gql(CREATE_RULE, {"sid": str(scanner.id), "input": {
        "name": "one more", "folders": ["INBOX"], "conditionText": 'subject contains "x"'}}))
    error = _only_error(result["createRule"])
    assert (error["field"], error["code"]) == ("scannerId", "TOO_MANY")
