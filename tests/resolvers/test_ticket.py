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


COMMENTS = """query ($n: String!, $first: Int, $last: Int, $offset: Int!) {
  ticket(number: $n) { commentCount comments(first: $first, last: $last, offset: $offset) { body } }
}"""


async def test_a_ticket_with_many_comments_is_read_in_capped_pages(api: Api) -> None:
    # given a ticket with more comments than one request may return
    from mailscanner.models import Comment, Ticket
    from mailscanner.schema.limits import MAX_COMMENTS
    ticket = await Ticket.create(number="TT1", title="long thread")
    await Comment.bulk_create(
        [Comment(ticket=ticket, body=f"c{i}") for i in range(MAX_COMMENTS + 5)])
    variables: dict[str, object] = {"n": "TT1", "first": None, "last": None, "offset": 0}
    # when read without a page size: the oldest MAX_COMMENTS, and the count of all
    whole = (await api.gql(COMMENTS, variables))["ticket"]
    assert whole["commentCount"] == MAX_COMMENTS + 5
    assert [c["body"] for c in whole["comments"]] == [f"c{i}" for i in range(MAX_COMMENTS)]
    # then the rest is reached with offset, and last gives the newest
    rest = (await api.gql(COMMENTS, {**variables, "offset": MAX_COMMENTS}))["ticket"]["comments"]
    assert [c["body"] for c in rest] == [f"c{MAX_COMMENTS + i}" for i in range(5)]
    newest = (await api.gql(COMMENTS, {**variables, "last": 2}))["ticket"]["comments"]
    assert [c["body"] for c in newest] == [f"c{MAX_COMMENTS + 3}", f"c{MAX_COMMENTS + 4}"]
    # and a page above the cap is refused with a message that says the bound
    body = (await api.post(COMMENTS, {**variables, "first": MAX_COMMENTS + 1})).json()
    assert f"first must be between 0 and {MAX_COMMENTS}" in body["errors"][0]["message"]
