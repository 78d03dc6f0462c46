"""Property-based fuzzing of the whole API: every query and mutation of the committed
schema, valid and invalid, as anonymous, agent and admin, against the real app on the test
database (both databases: scripts/test runs the suite on each).

Two generators, one check:
1. hypothesis-graphql over schema.graphql, per root field: POSITIVE operations (valid
   against the schema) and NEGATIVE ones (one violation: a wrong type, a missing argument,
   an unknown enum value), with arguments written inline, NUL characters included.
2. Hostile variables, per root field with arguments: each argument declared with its type
   and given any JSON (huge and negative numbers, NaN, lone surrogates and NUL, nested lists
   and objects), as a client can send it.
Every response must be clean: no HTTP 500 (nor any status but 200/400/401/405/413), no
"Unexpected error" (a masked internal error), JSON within MAILSCANNER_MAX_RESPONSE_BYTES,
and answered within the per-request budget (MAILSCANNER_FUZZ_BUDGET seconds, default 5).
Generated inputs stay within the documented bounds, so the budget holds once CPU-heavy
resolvers run off the event loop with their own time budget; raise it on a slow machine.
MAILSCANNER_FUZZ_EXAMPLES (default 3) sets the examples per generator; each example sends
one operation per root field (three times: one per role).

Nothing leaves the machine: name resolution answers only for loopback addresses, so
connection tests, folder lists, scans, mail sends and OAuth discovery fail fast.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes
from tortoise.transactions import in_transaction

from mailscanner import models
from mailscanner.outbound.templates import ensure_default_templates
from mailscanner.settings import Settings
from mailscanner.workers.runtime import start_embedded

from ..workers.fixtures import jobs_config  # noqa: F401  (fixture)
from .conftest import Api

SDL = (Path(__file__).parents[2] / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)
BUDGET = float(os.environ.get("MAILSCANNER_FUZZ_BUDGET", "5"))
EXAMPLES = int(os.environ.get("MAILSCANNER_FUZZ_EXAMPLES", "3"))
CLEAN_STATUSES = {200, 400, 401, 405, 413}
ROLES = (None, "agent", "admin")


def _root_fields(root: str) -> list[str]:
    root_type = SCHEMA.get_type(root)
    assert isinstance(root_type, graphql.GraphQLObjectType)
    return list(root_type.fields)


FIELDS = [*_root_fields("Query"), *_root_fields("Mutation")]
# NEGATIVE mode needs a required argument to get wrong.
NEGATABLE = {name for root in ("Query", "Mutation") for name in _root_fields(root)
             if any(graphql.is_non_null_type(a.type)
                    for a in SCHEMA.get_type(root).fields[name].args.values())}  # type: ignore[union-attr]
WITH_ARGUMENTS = [
    (root, name) for root in ("Query", "Mutation") for name in _root_fields(root)
    if SCHEMA.get_type(root).fields[name].args  # type: ignore[union-attr]
]

# Ids that exist (seeded below), that cannot exist, and that are not ids at all.
IDS = st.sampled_from(["1", "2", "3", "0", "-1", str(2**31), str(2**63), "9" * 30, "abc", " 2",
                       "\u0661", "1e3"])
_NAMES = st.from_regex(r"[a-z][a-zA-Z_]{0,8}", fullmatch=True)
_LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
JSON_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(_NAMES, inner, max_size=4), max_leaves=12)
ACTIONS = st.sampled_from([
    [{"type": "create_contact"}], [{"type": "delete_message"}],
    [{"type": "move_to_folder", "folder": "Done"}],
    [{"type": "create_or_update_ticket", "set": {"status": "open", "priority": "high"}}],
    [{"type": "nope"}], [{}],
])


def _node(value: Any) -> graphql.ValueNode:
    """A Python JSON value as a GraphQL literal (the JSON scalar accepts any literal)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_node(v) for v in value])
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_node(v))
                         for k, v in value.items()])


CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": IDS.map(nodes.String),
    "DateTime": st.sampled_from(["2026-01-01T00:00:00Z", "2026-13-45", "", "yesterday",
                                 "9999-12-31T23:59:59+14:00"]).map(nodes.String),
    "JSON": (JSON_VALUES | ACTIONS).map(_node),
}
HOSTILE_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
HOSTILE_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT
                  | IDS | st.sampled_from(["OPEN", "ADMIN", "INBOX", "subject", "TT1"]))
HOSTILE = st.recursive(HOSTILE_LEAVES, lambda inner: st.lists(inner, max_size=5)
                       | st.dictionaries(st.text(max_size=12) | _NAMES, inner, max_size=5),
                       max_leaves=20)


def _loopback_only(real: Any) -> Any:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in {"127.0.0.1", "localhost", "::1"}:
            raise socket.gaierror(socket.EAI_NONAME, "fuzzing: only loopback resolves")
        return real(host, *args, **kwargs)
    return getaddrinfo


@pytest.fixture
async def fuzz_api(api: Api, db: Settings, jobs_config: Any,  # noqa: F811
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The API with a little of everything to find by id, jobs running in-process, and no
    way out of the machine."""
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))
    await ensure_default_templates()
    account = await models.Account.create(name="Acme", domain="acme.test")
    contact = await models.Contact.create(name="Cy", email="cy@acme.test", account=account)
    async with in_transaction() as conn:
        number = await models.Ticket.allocate_number(db.ticket_prefix, conn)
        ticket = await models.Ticket.create(number=number, title="Printer", contact=contact,
                                            using_db=conn)
    await models.Comment.create(ticket=ticket, body="hello", source=models.CommentSource.CRM)
    scanner = await models.Scanner.create(name="Support", host="127.0.0.1", port=1,
                                          username="support@acme.test")
    await models.Rule.create(scanner=scanner, name="All", folders=["INBOX"], sequence=1,
                             condition={"v": 1, "field": "subject", "op": "contains",
                                        "value": "x"}, actions=[])
    run = await models.ScanRun.create(scanner=scanner, trigger="manual")
    await models.MessageLog.create(scanner=scanner, scan_run=run, folder="INBOX", uidvalidity=1,
                                   uid=1, subject="s", sender="cy@acme.test",
                                   outcome=models.MessageOutcome.NO_MATCH)
    await models.SmtpSettings.create(host="127.0.0.1", port=1, sender_address="s@acme.test")
    runner = await start_embedded(db, jobs_config, cron=False)
    try:
        yield api
    finally:
        await runner.stop(grace=0)


async def _send(api: Api, body: bytes, role: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if role is not None:
        token = api.admin_token if role == "admin" else api.agent_token
        headers["Authorization"] = f"Bearer {token}"
    start = time.monotonic()
    response = await api.client.post("/graphql", content=body, headers=headers)
    elapsed = time.monotonic() - start
    sent = body[:300].decode(errors="replace")
    assert response.status_code in CLEAN_STATUSES, (response.status_code, sent, response.text)
    assert len(response.content) <= Settings.max_response_bytes, sent
    answer = response.json()
    assert isinstance(answer, dict) and ("data" in answer or "errors" in answer), sent
    assert "Unexpected error" not in response.text, (sent, role, response.text[:2000])
    assert elapsed < BUDGET, (elapsed, sent)


# No shrinking: one example is a whole round of the API, and shrinking it took minutes; a
# failure reports the operation, role and response as drawn, which is enough to reproduce.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


@FUZZ_SETTINGS
@given(data=st.data())
async def test_generated_operations_are_answered_cleanly(fuzz_api: Api,
                                                         data: st.DataObject) -> None:
    # Each example sends one operation for every root field, so every field is covered.
    for field in FIELDS:
        modes = [Mode.POSITIVE, Mode.NEGATIVE] if field in NEGATABLE else [Mode.POSITIVE]
        mode = data.draw(st.sampled_from(modes), label=f"{field} mode")
        query = data.draw(from_schema(SCHEMA, fields=[field], custom_scalars=CUSTOM_SCALARS,
                                      mode=mode), label=field)
        body = json.dumps({"query": query}).encode()
        for role in ROLES:
            await _send(fuzz_api, body, role)


def _selection(gtype: graphql.GraphQLOutputType) -> str:
    return "" if graphql.is_leaf_type(graphql.get_named_type(gtype)) else " { __typename }"


def _operation(root: str, field: str) -> tuple[str, list[str]]:
    definition = SCHEMA.get_type(root).fields[field]  # type: ignore[union-attr]
    names = list(definition.args)
    declared = ", ".join(f"${n}: {definition.args[n].type}" for n in names)
    passed = ", ".join(f"{n}: ${n}" for n in names)
    keyword = "query" if root == "Query" else "mutation"
    return f"{keyword}({declared}) {{ {field}({passed}){_selection(definition.type)} }}", names


@FUZZ_SETTINGS
@given(data=st.data())
async def test_hostile_variables_are_answered_cleanly(fuzz_api: Api,
                                                      data: st.DataObject) -> None:
    for root, field in WITH_ARGUMENTS:
        query, names = _operation(root, field)
        variables = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(names, HOSTILE)),
                              label=field)
        body = json.dumps({"query": query, "variables": variables}, allow_nan=True).encode()
        for role in ROLES:
            await _send(fuzz_api, body, role)
