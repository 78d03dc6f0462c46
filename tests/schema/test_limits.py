"""Every text and list input of the committed schema has a documented bound."""
from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLType,
    build_schema,
)

from mailscanner.schema.limits import ITEMS, TEXT

SDL = Path(__file__).parents[2] / "schema.graphql"


def _inputs() -> tuple[set[str], set[str]]:
    """(coordinates of String inputs, coordinates of list and JSON inputs)."""
    schema = build_schema(SDL.read_text())
    texts: set[str] = set()
    lists: set[str] = set()
    seen: set[str] = set()

    def visit(coordinate: str, gtype: GraphQLType) -> None:
        is_list = False
        while isinstance(gtype, (GraphQLNonNull, GraphQLList)):
            is_list = is_list or isinstance(gtype, GraphQLList)
            gtype = gtype.of_type
        if is_list:
            lists.add(coordinate)
        if isinstance(gtype, GraphQLScalarType) and gtype.name == "String":
            texts.add(coordinate)
        if isinstance(gtype, GraphQLScalarType) and gtype.name == "JSON" and coordinate in ITEMS:
            lists.add(coordinate)
        if isinstance(gtype, GraphQLInputObjectType) and gtype.name not in seen:
            seen.add(gtype.name)
            for name, field in gtype.fields.items():
                visit(f"{gtype.name}.{name}", field.type)

    for root in ("Query", "Mutation"):
        root_type = schema.get_type(root)
        assert root_type is not None
        for field_name, field in root_type.fields.items():  # type: ignore[attr-defined]
            for arg_name, argument in field.args.items():
                visit(f"{root}.{field_name}({arg_name}:)", argument.type)
    return texts, lists


def test_every_text_input_has_a_length_bound() -> None:
    texts, _ = _inputs()
    assert sorted(texts - set(TEXT)) == []
    assert sorted(set(TEXT) - texts) == []  # no stale entries


def test_every_list_input_has_an_item_bound() -> None:
    _, lists = _inputs()
    assert sorted(lists - set(ITEMS)) == []
    assert sorted(set(ITEMS) - lists) == []
