"""The strawberry Schema with its limits (depth, aliases, tokens, input bounds), error masking
and error logging.

Logging: an expected refusal (syntax or validation error, permission denial, rejected input)
is one INFO line with the message cut to a short excerpt; never the query's source, which
graphql-core would print in full (a 20 MB block string made a 20 MB log line). Only an
unexpected error is logged with its traceback, and it is masked for the client.
"""
from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext

from ..http_errors import excerpt
from .common import PublicError
from .input_guard import InputGuard
from .observability import OperationMetrics
from .root import Mutation, Query, Subscription

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 5000
logger = logging.getLogger("mailscanner.graphql")


def _expected(error: GraphQLError) -> bool:
    # Syntax/validation errors have no original error; denials and rejected input raise a
    # GraphQLError; PublicError is a refusal meant for the client.
    original = error.original_error
    return original is None or isinstance(original, (PublicError, GraphQLError))


def _should_mask(error: GraphQLError) -> bool:
    return not _expected(error)


# graphql-core quotes the caller's input in coercion errors ("... Found: {'passwrd':
# 's3cret'}", "got invalid value ..."): a typo in a field name would put a password into the
# log. The client gets the whole message; the log line stops before the quoted value.
_QUOTES_INPUT = re.compile(r"Found: |got invalid value|has invalid value|cannot represent")


def _loggable(message: str) -> str:
    match = _QUOTES_INPUT.search(message)
    return message if match is None else message[: match.start()] + "(input not logged)"


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            path = ".".join(str(p) for p in error.path or ()) or "-"
            if _expected(error):
                logger.info("refused (%s): %s", path, excerpt(_loggable(error.message), 200))
            else:
                logger.error("unexpected error (%s): %s", path, excerpt(error.message, 200),
                             exc_info=error.original_error)


def build_schema() -> strawberry.Schema:
    extensions: list[Any] = [
        OperationMetrics,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        InputGuard,
        lambda: MaskErrors(should_mask_error=_should_mask,
                           error_message="Unexpected error; it was logged on the server"),
    ]
    return Schema(query=Query, mutation=Mutation, subscription=Subscription,
                  extensions=extensions)


schema = build_schema()


def schema_sdl() -> str:
    """The committed form of the schema (schema.graphql; written by scripts/export-schema)."""
    return schema.as_str().strip() + "\n"
