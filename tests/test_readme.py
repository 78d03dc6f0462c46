"""The README's GraphQL examples are what a newcomer pastes into GraphiQL first: they must
run as written against the live schema."""
from __future__ import annotations

import re
from pathlib import Path

from graphql import OperationDefinitionNode, parse, validate

from mailscanner.resolvers.schema import schema

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```graphql\n(.*?)```", re.S)


def _blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_has_graphql_examples() -> None:
    assert _blocks()


def test_every_graphql_block_validates_and_names_its_operations_when_it_holds_several() -> None:
    for block in _blocks():
        document = parse(block)
        errors = validate(schema._schema, document)
        assert not errors, f"{errors[0].message} in README block:\n{block}"
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            # GraphiQL refuses a document with several operations when one is anonymous.
            assert all(op.name for op in operations), f"name every operation in:\n{block}"
