"""The strawberry Schema with its limits (depth, aliases, tokens) and error masking."""
from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from .common import PublicError
from .root import Mutation, Query, Subscription

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 5000


def _should_mask(error: GraphQLError) -> bool:
    # Syntax/validation errors and permission denials carry no original error: show them.
    original = error.original_error
    return original is not None and not isinstance(original, (PublicError, GraphQLError))


def build_schema() -> strawberry.Schema:
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaskErrors(should_mask_error=_should_mask,
                           error_message="Unexpected error; it was logged on the server"),
    ]
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions)


schema = build_schema()


def schema_sdl() -> str:
    """The committed form of the schema (schema.graphql; written by scripts/export-schema)."""
    return schema.as_str().strip() + "\n"
