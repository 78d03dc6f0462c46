"""GraphQL-shaped JSON for every failure that happens outside GraphQL execution.

A client (GraphiQL, a frontend, curl piped to jq) always gets the same shape, whatever
refused the request — the body cap, the token check, the JSON parser, the view:

    {"errors": [{"message": "...", "extensions": {"code": "UNAUTHENTICATED"}}]}

Messages are written for a person and never echo more than `excerpt()` of what was sent.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

# Codes a client can switch on (extensions.code). GraphQL execution errors use the same
# field: see resolvers/input_guard.py for the input codes (TOO_LONG, TOO_MANY, ...).
UNAUTHENTICATED = "UNAUTHENTICATED"
INVALID_TOKEN = "INVALID_TOKEN"
FORBIDDEN = "FORBIDDEN"
BAD_REQUEST = "BAD_REQUEST"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
TOO_DEEP = "TOO_DEEP"
RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"  # the document is not GraphQL (or nests too deep)
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"  # unknown field, wrong argument type...

EXCERPT_CHARS = 120


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `text`, marked when cut (for messages and logs)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def error_body(message: str, code: str, **extensions: object) -> bytes:
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]},
        separators=(",", ":"),
    ).encode()


def error_response(status: int, message: str, code: str,
                   headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(message, code), status_code=status,
                    media_type="application/json", headers=dict(headers or {}))


class RequestRejected(Exception):
    """Raised anywhere while handling an HTTP request to answer with `error_response`."""

    def __init__(self, status: int, message: str, code: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(self.status, self.message, self.code, self.headers)
