"""Admins list and revoke API tokens; a revoked token is refused from the next request on."""
from __future__ import annotations

import logging

import pytest

from mailscanner import models

from .conftest import Api

API_TOKENS = """{ apiTokens { totalCount edges { node {
  id name role prefix status createdAt lastUsedAt expiresAt revokedAt user { name } } } } }"""
REVOKE = """mutation($id: ID!) { revokeApiToken(id: $id) { __typename
  ... on ApiTokenPayload { apiToken { id status revokedAt } }
  ... on NotFoundError { message } } }"""


async def test_an_admin_lists_tokens_without_any_secret(api: Api) -> None:
    response = await api.post(API_TOKENS)
    nodes = [e["node"] for e in response.json()["data"]["apiTokens"]["edges"]]
    assert {(n["name"], n["role"], n["status"]) for n in nodes} == {
        ("admin", "ADMIN", "ACTIVE"), ("agent", "AGENT", "ACTIVE")}
    assert {n["prefix"] for n in nodes} == {api.admin_token[:12], api.agent_token[:12]}
    hashes = [row.token_hash for row in await models.ApiToken.all()]
    for secret in [api.admin_token, api.agent_token, *hashes]:
        assert secret not in response.text


async def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    # given
    agent = await models.ApiToken.get(name="agent")
    assert (await api.post("{ me { name } }", token="agent")).status_code == 200
    # when
    data = await api.gql(REVOKE, {"id": str(agent.id)})
    # then
    payload = data["revokeApiToken"]["apiToken"]
    assert payload["status"] == "REVOKED" and payload["revokedAt"]
    refused = await api.post("{ me { name } }", token="agent")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"] == {"code": "INVALID_TOKEN"}
    # and revoking again changes nothing
    again = await api.gql(REVOKE, {"id": str(agent.id)})
    assert again["revokeApiToken"]["apiToken"]["revokedAt"] == payload["revokedAt"]


async def test_revoking_an_unknown_token_is_not_found(api: Api) -> None:
    data = await api.gql(REVOKE, {"id": "424242"})
    assert data["revokeApiToken"]["__typename"] == "NotFoundError"


async def test_agents_may_neither_list_nor_revoke_and_that_is_one_quiet_log_line(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        listed = (await api.post(API_TOKENS, token="agent")).json()
        revoked = (await api.post(REVOKE, {"id": "1"}, token="agent")).json()
    for body in (listed, revoked):
        assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    denials = [r for r in caplog.records if "Only administrators" in r.getMessage()]
    assert len(denials) == 2
    for record in denials:
        assert record.exc_info is None and "\n" not in record.getMessage()
        assert record.levelno == logging.INFO
    assert await models.ApiToken.filter(revoked=True).count() == 0
