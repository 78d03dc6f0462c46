"""Every query and mutation is checked for each role, generically from the live schema, so a
new mutation is covered the moment it exists (and fails here if it forgets its permission)."""
from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)

from mailscanner.resolvers.permissions import IsAdmin, IsAgent
from mailscanner.resolvers.schema import schema

from .conftest import Api

DENIED = {IsAdmin.message, IsAgent.message}
_SKIP_SUBSCRIPTIONS = {"Subscription"}


def _dummy(gtype: Any) -> Any:
    if isinstance(gtype, GraphQLNonNull):
        return _dummy(gtype.of_type)
    if isinstance(gtype, GraphQLList):
        return []
    if isinstance(gtype, GraphQLEnumType):
        return next(iter(gtype.values))
    if isinstance(gtype, GraphQLInputObjectType):
        return {
            name: _dummy(f.type)
            for name, f in gtype.fields.items()
            if isinstance(f.type, GraphQLNonNull)
        }
    assert isinstance(gtype, GraphQLScalarType)
    return {"ID": "999999", "Int": 1, "Float": 1.0, "Boolean": False, "String": "x",
            "JSON": {}, "DateTime": "2026-01-01T00:00:00Z"}.get(gtype.name, "x")


def _fields(root: str) -> list[tuple[str, str, str]]:
    """(root, field name, required role) for every field, from its permission classes."""
    definition = schema.get_type_by_name(root)
    assert definition is not None
    out = []
    for field in definition.fields:  # type: ignore[union-attr]
        classes = set(field.permission_classes)
        role = "admin" if IsAdmin in classes else "agent" if IsAgent in classes else "none"
        out.append((root, schema.config.name_converter.get_graphql_name(field), role))
    return out


ALL_FIELDS = _fields("Query") + _fields("Mutation")


def _document(root: str, name: str) -> tuple[str, dict[str, Any]]:
    gql_root = schema._schema.query_type if root == "Query" else schema._schema.mutation_type
    assert gql_root is not None
    field = gql_root.fields[name]
    args = {a: f for a, f in field.args.items() if isinstance(f.type, GraphQLNonNull)}
    decl = ", ".join(f"${a}: {f.type}" for a, f in args.items())
    call = ", ".join(f"{a}: ${a}" for a in args)
    keyword = "query" if root == "Query" else "mutation"
    variables = f"({decl})" if decl else ""
    arguments = f"({call})" if call else ""
    text = f"{keyword}{variables} {{ {name}{arguments} {{ __typename }} }}"
    scalar_result = isinstance(field.type, GraphQLScalarType) or (
        isinstance(field.type, GraphQLNonNull) and isinstance(field.type.of_type, GraphQLScalarType)
    )
    if scalar_result:
        text = text.replace(" { __typename }", "")
    return text, {a: _dummy(f.type) for a, f in args.items()}


def test_every_query_and_mutation_declares_a_permission() -> None:
    unprotected = [f"{root}.{name}" for root, name, role in ALL_FIELDS if role == "none"]
    assert unprotected == []


@pytest.mark.parametrize(
    ("root", "name", "role"), ALL_FIELDS, ids=[f"{r}.{n}" for r, n, _ in ALL_FIELDS]
)
async def test_each_role_gets_exactly_its_rights(api: Api, root: str, name: str, role: str) -> None:
    text, variables = _document(root, name)
    # no token: refused before any resolver runs
    anonymous = await api.post(text, variables, token=None)
    assert anonymous.status_code == 401
    # agent: denied on admin fields only
    agent = (await api.post(text, variables, token="agent")).json()
    agent_denied = any(e["message"] in DENIED for e in agent.get("errors") or [])
    assert agent_denied is (role == "admin"), agent
    # admin: never denied
    admin = (await api.post(text, variables, token="admin")).json()
    assert not any(e["message"] in DENIED for e in admin.get("errors") or []), admin
