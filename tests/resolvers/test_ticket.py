from __future__ import annotations

from .conftest import Api

CREATE_TICKET = """
mutation($input: CreateTicketInput!) {
  createTicket(input: $input) {
    __typename
    ... on TicketPayload { ticket { id number title status contact { email } account { name } } }
    ... on ValidationError { message errors { field code message } }
  }
}"""

CREATE_CONTACT = """
mutation($input: ContactInput!) {
  createContact(input: $input) {
    __typename
    ... on ContactPayload { contact { id email account { id name } } }
    ... on ValidationError { errors { field code } }
  }
}"""

CREATE_ACCOUNT = """
mutation($input: AccountInput!) {
  createAccount(input: $input) { __typename ... on AccountPayload { account { id } } }
}"""

LIST_TICKETS = """
query($where: TicketFilter, $first: Int, $after: String) {
  tickets(where: $where, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { number title status } }
  }
}"""


async def test_an_agent_creates_tickets_numbered_tt1_tt2(api: Api) -> None:
    # when
    first = await api.gql(CREATE_TICKET, {"input": {"title": "Printer on fire"}}, token="agent")
    second = await api.gql(CREATE_TICKET, {"input": {"title": "Still on fire"}}, token="agent")
    # then
    assert first["createTicket"]["ticket"]["number"] == "TT1"
    assert second["createTicket"]["ticket"]["number"] == "TT2"
    assert first["createTicket"]["ticket"]["status"] == "OPEN"


async def test_a_ticket_without_title_is_a_validation_error_naming_the_field(api: Api) -> None:
    data = await api.gql(CREATE_TICKET, {"input": {"title": "  "}})
    result = data["createTicket"]
    assert result["__typename"] == "ValidationError"
    assert result["errors"] == [
        {"field": "input.title", "code": "REQUIRED", "message": "This field is required"}
    ]


async def test_a_ticket_with_an_unknown_contact_names_the_field(api: Api) -> None:
    data = await api.gql(CREATE_TICKET, {"input": {"title": "x", "contactId": "999"}})
    assert data["createTicket"]["__typename"] == "ValidationError"
    assert data["createTicket"]["errors"][0]["field"] == "input.contactId"
    assert data["createTicket"]["errors"][0]["code"] == "NOT_FOUND"


async def test_contact_is_linked_to_account_by_domain_and_ticket_inherits_it(api: Api) -> None:
    acme = await api.gql(CREATE_ACCOUNT, {"input": {"name": "Acme", "domain": "acme.com"}})
    account_id = acme["createAccount"]["account"]["id"]
    contact = await api.gql(CREATE_CONTACT, {"input": {"name": "Wile", "email": "Wile@ACME.com"}})
    c = contact["createContact"]["contact"]
    assert c["account"]["id"] == account_id
    ticket = await api.gql(CREATE_TICKET, {"input": {"title": "Anvil", "contactId": c["id"]}})
    assert ticket["createTicket"]["ticket"]["account"] == {"name": "Acme"}


async def test_tickets_are_listed_newest_first_filtered_and_paginated(api: Api) -> None:
    for i in range(5):
        await api.gql(CREATE_TICKET, {"input": {"title": f"Invoice {i}" if i % 2 else f"Bug {i}"}})
    page1 = (await api.gql(LIST_TICKETS, {"first": 2}))["tickets"]
    assert page1["totalCount"] == 5
    assert [e["node"]["number"] for e in page1["edges"]] == ["TT5", "TT4"]
    after = page1["pageInfo"]["endCursor"]
    page2 = (await api.gql(LIST_TICKETS, {"first": 2, "after": after}))["tickets"]
    assert [e["node"]["number"] for e in page2["edges"]] == ["TT3", "TT2"]
    found = (await api.gql(LIST_TICKETS, {"where": {"search": "invoice"}}))["tickets"]
    assert sorted(e["node"]["title"] for e in found["edges"]) == ["Invoice 1", "Invoice 3"]
    closed = (await api.gql(LIST_TICKETS, {"where": {"status": ["CLOSED"]}}))["tickets"]
    assert closed["totalCount"] == 0


async def test_a_malformed_cursor_is_a_clear_error(api: Api) -> None:
    response = await api.post(LIST_TICKETS, {"after": "not-a-cursor"})
    body = response.json()
    assert body["data"] is None
    assert "invalid cursor" in body["errors"][0]["message"]


async def test_a_request_without_token_is_refused_with_401(api: Api) -> None:
    response = await api.post(LIST_TICKETS, token=None)
    assert response.status_code == 401
    response = await api.post(LIST_TICKETS, token="mst_wrong")
    assert response.status_code == 401


async def test_healthz_needs_no_token(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
