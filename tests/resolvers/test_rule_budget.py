"""checkRule and explainRule do their CPU work in an isolated process (issue 12 item 4): the
event loop keeps answering meanwhile, and past the budget the answer is a typed TIMEOUT."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx2
import pytest

from mailscanner.app import create_app
from mailscanner.models import Role
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings

from .conftest import Api

EXPLAIN = """
query($raw: String!, $text: String) {
  explainRule(rawEmail: $raw, conditionText: $text) {
    __typename
    ... on RuleExplanation { matches }
    ... on ValidationError { errors { field code message } }
  }
}"""

CHECK = """
query($text: String) {
  checkRule(conditionText: $text) {
    __typename
    ... on RuleCheck { text }
    ... on ValidationError { errors { field code message line column } }
  }
}"""

# About 650 KB of text and 300 backtracking-prone patterns over it: seconds of CPU.
HEAVY_RAW = ("From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\n"
             + "lorem ipsum dolor sit amet " * 25000)
HEAVY_CONDITION = " or ".join(f"body matches /(lorem|ipsum)+ needle{i}/" for i in range(300))


@pytest.fixture
async def tight_api(db: Settings) -> AsyncIterator[Api]:
    """The API with a resolver budget far below what HEAVY_CONDITION needs."""
    app = create_app(dataclasses.replace(db, resolver_budget_seconds=0.2), start_services=False)
    admin = await create_token(Role.ADMIN, "admin", "Ada Admin")
    agent = await create_token(Role.AGENT, "agent", "Aldo Agent")
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client=client, admin_token=admin, agent_token=agent)


async def test_healthz_is_answered_while_a_heavy_explain_rule_runs(api: Api) -> None:
    explaining = asyncio.ensure_future(
        api.gql(EXPLAIN, {"raw": HEAVY_RAW, "text": HEAVY_CONDITION}))
    # when: several health checks, one after the other, while the explanation is computed
    answers = [(await api.client.get("/healthz")).json() for _ in range(5)]
    # then: all of them came back before it (on the event loop they would queue behind it)
    assert not explaining.done()
    assert answers == [{"status": "ok"}] * 5
    result = (await explaining)["explainRule"]
    assert result == {"__typename": "RuleExplanation", "matches": False}


async def test_an_explain_rule_past_its_budget_is_a_typed_timeout(tight_api: Api) -> None:
    data = await tight_api.gql(EXPLAIN, {"raw": HEAVY_RAW, "text": HEAVY_CONDITION})
    result = data["explainRule"]
    assert result["__typename"] == "ValidationError"
    [error] = result["errors"]
    assert error["field"] == "rawEmail" and error["code"] == "TIMEOUT"
    assert "time limit" in error["message"]
    # and the next, ordinary request is answered normally
    small = await tight_api.gql(EXPLAIN, {"raw": HEAVY_RAW[:200], "text": 'subject equals "s"'})
    assert small["explainRule"] == {"__typename": "RuleExplanation", "matches": True}


async def test_check_rule_errors_come_back_from_the_worker_with_their_position(
        api: Api) -> None:
    data = await api.gql(CHECK, {"text": 'subject contains "a" and'})
    [error] = data["checkRule"]["errors"]
    assert error["field"] == "input.conditionText" and error["code"] == "INVALID_RULE"
    assert error["line"] == 1 and error["column"] is not None
    ok = await api.gql(CHECK, {"text": HEAVY_CONDITION})
    assert ok["checkRule"]["__typename"] == "RuleCheck"
