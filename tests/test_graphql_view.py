"""The HTTP face of /graphql: who may execute, and the shape of every refusal."""
# ruff: noqa: F811
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.models import ApiToken, Role
from mailscanner.models.api_token import hash_token
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings

# The `api` fixture lives with the resolver tests; imported here, so its name is reused by
# every test's parameter (F811 is that reuse, not a bug).
from .resolvers.conftest import Api, api  # noqa: F401

INTROSPECT = "{ __schema { queryType { name } } }"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def _error(response_json: dict[str, object]) -> dict[str, object]:
    errors = response_json["errors"]
    assert isinstance(errors, list) and len(errors) == 1, response_json
    error = errors[0]
    assert isinstance(error, dict)
    return error


async def test_without_a_token_only_the_graphiql_page_is_served(api: Api) -> None:
    # the page itself
    page = await api.client.get("/graphql", headers=HTML)
    assert page.status_code == 200 and "graphiql" in page.text
    # but not a query, even when the browser asks for HTML
    for headers in (HTML, {"Accept": "*/*"}, {}):
        response = await api.client.get("/graphql", params={"query": INTROSPECT},
                                        headers=headers)
        assert response.status_code == 401, response.text
        assert "__schema" not in response.text and "Query" not in response.text
        assert _error(response.json())["extensions"] == {"code": "UNAUTHENTICATED"}
    post = await api.post(INTROSPECT, token=None)
    assert post.status_code == 401
    assert post.headers["www-authenticate"].startswith("Bearer")


async def test_every_401_is_graphql_shaped_and_says_why(api: Api) -> None:
    # no token
    missing = await api.post("{ me { name } }", token=None)
    assert missing.headers["content-type"] == "application/json"
    error = _error(missing.json())
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "Bearer" in str(error["message"])
    # a wrong token
    wrong = await api.post("{ me { name } }", token="mst_not-a-real-token")
    error = _error(wrong.json())
    assert wrong.status_code == 401 and error["extensions"] == {"code": "INVALID_TOKEN"}
    assert "not valid" in str(error["message"])
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    # not a bearer header at all
    basic = await api.client.post("/graphql", json={"query": "{ me { name } }"},
                                  headers={"Authorization": "Basic dTpw"})
    assert basic.status_code == 401 and _error(basic.json())["extensions"] == {
        "code": "INVALID_TOKEN"}


async def test_a_revoked_or_expired_token_is_refused_with_a_message_saying_so(api: Api) -> None:
    # given
    revoked = await create_token(Role.AGENT, "old script")
    expired = await create_token(Role.AGENT, "temp", expires_in=timedelta(days=1))
    assert (await api.post("{ me { name } }", token=revoked)).status_code == 200
    await ApiToken.filter(token_hash=hash_token(revoked)).update(
        revoked=True, revoked_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    await ApiToken.filter(token_hash=hash_token(expired)).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1))
    # when
    first = await api.post("{ me { name } }", token=revoked)
    second = await api.post("{ me { name } }", token=expired)
    # then
    assert first.status_code == second.status_code == 401
    assert _error(first.json()) == {"message": "This API token was revoked on 2026-01-02 03:04 UTC",
                                    "extensions": {"code": "INVALID_TOKEN"}}
    assert "expired on" in str(_error(second.json())["message"])
    assert _error(second.json())["extensions"] == {"code": "INVALID_TOKEN"}


async def test_a_subscription_over_plain_http_gets_a_typed_error(api: Api) -> None:
    response = await api.post("subscription { ticketEvents { kind } }")
    assert response.status_code == 400
    error = _error(response.json())
    assert error["extensions"] == {"code": "OPERATION_NOT_ALLOWED"}
    assert "WebSocket" in str(error["message"])


async def test_a_mutation_over_get_is_refused_as_a_method_error(api: Api) -> None:
    mutation = 'mutation { createTicket(input: {title: "x"}) { __typename } }'
    response = await api.client.get(
        "/graphql", params={"query": mutation},
        headers={"Authorization": f"Bearer {api.admin_token}"})
    assert response.status_code == 405
    assert _error(response.json())["extensions"] == {"code": "METHOD_NOT_ALLOWED"}


async def test_deeply_nested_variables_are_refused_with_a_typed_error(api: Api) -> None:
    # given: 3,000 nested lists, and a 5,000-deep condition tree (both were HTTP 500)
    nested = "1"
    for _ in range(3000):
        nested = f"[{nested}]"
    condition = '{"field": "subject", "op": "contains", "value": "x"}'
    for _ in range(5000):
        condition = '{"not": ' + condition + "}"
    bodies = [
        '{"query": "{ me { name } }", "variables": {"a": ' + nested + "}}",
        '{"query": "query($c: ConditionInput) { checkRule(condition: $c) { __typename } }",'
        ' "variables": {"c": ' + condition + "}}",
    ]
    for body in bodies:
        # when
        response = await api.client.post(
            "/graphql", content=body, headers={"Authorization": f"Bearer {api.admin_token}",
                                               "Content-Type": "application/json"})
        # then
        assert response.status_code == 400, response.text
        assert _error(response.json())["extensions"] == {"code": "TOO_DEEP"}


async def test_a_condition_nested_deeper_than_the_rules_allow_is_a_validation_error(
        api: Api) -> None:
    condition: dict[str, object] = {"field": "subject", "op": "contains", "value": "x"}
    for _ in range(40):  # the request JSON is within bounds, the rule is not
        condition = {"not": condition}
    data = await api.gql("query($c: ConditionInput) { checkRule(condition: $c) { __typename "
                         "... on ValidationError { errors { field code message } } } }",
                         {"c": condition})
    assert data["checkRule"]["__typename"] == "ValidationError"
    assert data["checkRule"]["errors"][0]["code"] == "INVALID_RULE"


async def test_a_huge_value_is_never_echoed_whole_in_errors_or_logs(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    # given: a 900 kB block string where an Int belongs (echoed whole before)
    query = '{ tickets(first: """' + "x" * 900_000 + '""") { totalCount } }'
    # when
    with caplog.at_level(logging.INFO):
        response = await api.post(query)
    # then
    assert response.status_code == 200
    assert len(response.content) < 2_000
    message = str(_error(response.json())["message"])
    assert message.startswith("Int cannot represent non-integer value")
    assert "characters)" in message  # marked as cut
    assert all(len(r.getMessage()) < 2_000 for r in caplog.records)


async def test_an_answer_over_the_response_limit_becomes_a_typed_error(
        api: Api, db: Settings) -> None:
    # given: five tickets of 100,000 characters each, and an app with a 64 kB response limit
    for i in range(5):
        await api.gql("mutation($i: CreateTicketInput!) { createTicket(input: $i) { __typename } }",
                      {"i": {"title": f"big {i}", "description": "d" * 100_000}})
    app = create_app(replace(db, max_response_bytes=64 * 1024), start_services=False)
    # when
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        response = await client.post(
            "/graphql", json={"query": "{ tickets { edges { node { description } } } }"},
            headers={"Authorization": f"Bearer {api.admin_token}"})
    # then
    assert response.status_code == 200
    assert len(response.content) < 1_000
    assert _error(response.json())["extensions"] == {"code": "RESPONSE_TOO_LARGE"}


async def test_many_errors_are_cut_to_a_readable_few(api: Api) -> None:
    # given: 60 unknown fields, 60 validation errors
    fields = " ".join(f"nope{i}" for i in range(60))
    # when
    body = (await api.post("{ me { " + fields + " } }")).json()
    # then: 20 of them and a note that says how many more
    assert len(body["errors"]) == 21
    assert body["errors"][-1] == {"message": "40 more errors not shown",
                                  "extensions": {"code": "TOO_MANY_ERRORS"}}
    assert len(json.dumps(body)) < 20_000


async def test_every_response_carries_the_security_headers(api: Api) -> None:
    responses = [
        await api.client.get("/graphql", headers=HTML),
        await api.post("{ me { name } }"),
        await api.post("{ me { name } }", token=None),
        await api.client.get("/healthz"),
        await api.client.get("/nowhere"),
        await api.client.get("/static/graphiql/graphiql.min.css"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["referrer-policy"] == "no-referrer", response.url


async def test_the_graphiql_page_forbids_framing_and_foreign_code(api: Api) -> None:
    page = await api.client.get("/graphql", headers=HTML)
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "'sha256-" in policy  # its one inline script, by hash
    assert page.headers["x-frame-options"] == "DENY"
    assert "shouldPersistHeaders: false" in page.text
    assert "unpkg.com" not in page.text


@pytest.mark.parametrize("body", [
    b"1", b'"query"', b"null", b"[]", b'[{"query": "{ me { name } }"}]', b'{"query": 5}',
    b'{"query": "{ me { name } }", "variables": "x"}', b'{"query": "{ me { name } }"',
    b'{"query": "{ me { name } }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    b'{"query": "\xff\xfe"}', b"",
])
async def test_any_malformed_body_is_a_typed_400(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"Authorization": f"Bearer {api.admin_token}",
                                           "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert _error(response.json())["extensions"] == {"code": "BAD_REQUEST"}


async def test_a_document_that_does_not_parse_or_validate_has_a_code(api: Api) -> None:
    # given: a literal condition nested 5,000 deep in the query text (graphql-core's parser
    # refuses it), a plain syntax error, and a well-formed query naming an unknown field
    deep = "{field: SUBJECT, op: CONTAINS, value: \"x\"}"
    for _ in range(5000):
        deep = "{not: " + deep + "}"
    cases = {
        "{ checkRule(condition: " + deep + ") { __typename } }": "GRAPHQL_PARSE_FAILED",
        "{ me { name }": "GRAPHQL_PARSE_FAILED",
        "{ me { noSuchField } }": "GRAPHQL_VALIDATION_FAILED",
    }
    for query, code in cases.items():
        # when
        response = await api.post(query)
        # then: an error a client can dispatch on, and no data
        body = response.json()
        assert body["data"] is None, body
        assert _error(body)["extensions"] == {"code": code}, (query[:40], body)
