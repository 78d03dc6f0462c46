"""The strawberry ASGI view: bearer-token auth, per-request context, offline GraphiQL.

Who may do what over HTTP:
- Without a token only the GraphiQL page itself is served (GET, no `query` parameter, a
  browser's Accept). Any execution, GET or POST, needs a valid token: no token is 401
  UNAUTHENTICATED, an unknown, revoked or expired one 401 INVALID_TOKEN.
- Queries run over GET and POST, mutations over POST only; subscriptions only over the
  WebSocket (graphql-transport-ws), and saying so is a typed 400, not an execution error.

Every failure outside execution is GraphQL-shaped JSON (http_errors.py). Request JSON nested
deeper than `MAX_JSON_DEPTH` is refused before GraphQL sees it (it would exhaust the Python
stack in the JSON parser or in variable coercion). Error messages are cut to
`MAX_ERROR_CHARS` and at most `MAX_ERRORS` are returned; an answer over
`max_response_bytes` is replaced by a RESPONSE_TOO_LARGE error.

WebSocket sessions authenticate once (header or `connection_init` payload) and are then
watched by ws_sessions.py, which closes them with 4401 when their token is revoked or expires.
"""
from __future__ import annotations

import contextlib
import json
import re
import uuid
from typing import Any, cast

from cross_web import HTTPException, StarletteRequestAdapter
from graphql import GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from . import http_errors as codes
from .graphiql_page import build_page
from .http_errors import RequestRejected, error_body, excerpt
from .ops.logs import log_context
from .resolvers.auth import NOT_BEARER, InvalidToken, Principal, authenticate, bearer_token
from .resolvers.context import Context
from .settings import Settings
from .ws_sessions import SessionHandler, SessionRegistry

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_JSON_DEPTH = 64  # request JSON (body, variables, extensions): objects and lists
MAX_ERROR_CHARS = 300
MAX_ERRORS = 20
_UNAUTHENTICATED = "Authentication required: send 'Authorization: Bearer <token>'"
_WWW_AUTHENTICATE = 'Bearer realm="mailscanner"'
_STATUS_CODES = {400: codes.BAD_REQUEST, 404: codes.BAD_REQUEST, 405: codes.METHOD_NOT_ALLOWED}


class TooDeep(json.JSONDecodeError):
    """Request JSON nested deeper than MAX_JSON_DEPTH (a JSONDecodeError so that strawberry's
    WebSocket reader closes the socket with 4400 instead of crashing)."""

    def __init__(self) -> None:
        super().__init__(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels", "", 0)


def json_depth_exceeds(value: object, limit: int) -> bool:
    """True if `value` nests lists/objects deeper than `limit`; iterative, stops early."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in cast("list[object]", children):
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionHandler

    def __init__(self, schema: Any, settings: Settings, **kwargs: Any) -> None:
        # Multipart (file uploads, for addComment's attachments) needs a Bearer token like any
        # execution, so a cross-site form post (which cannot set the header) executes nothing.
        super().__init__(schema, graphql_ide="graphiql", multipart_uploads_enabled=True,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)
        self.settings = settings
        self.sessions = SessionRegistry()
        self._ide_html, self._ide_headers = build_page(self.graphql_ide_html)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        with log_context(request_id=request_id):
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return
            await self._http(scope, receive, _with_request_id(send, request_id))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:  # strawberry's own refusals, made GraphQL-shaped
            response = codes.error_response(
                exc.status_code, excerpt(exc.reason), _STATUS_CODES.get(exc.status_code,
                                                                         codes.BAD_REQUEST))
        except RequestRejected as exc:
            response = exc.response()
        finally:
            await request.close()  # uploaded files: their spooled temporary files go now
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html, headers=self._ide_headers)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(settings=self.settings, principal=None, request=request,
                          response=response)
        header = request.headers.get("authorization")
        if isinstance(request, WebSocket):
            # Browsers cannot set headers on a WebSocket: on_ws_connect also reads the token
            # from connection_init. A bad header token is refused there.
            with contextlib.suppress(InvalidToken):
                context.principal = await authenticate(bearer_token(header))
            return context
        if header is None:
            if self.should_render_graphql_ide(StarletteRequestAdapter(request)):
                return context  # the page only; it executes nothing
            raise RequestRejected(401, _UNAUTHENTICATED, codes.UNAUTHENTICATED,
                                  {"WWW-Authenticate": _WWW_AUTHENTICATE})
        context.principal = await _authenticate_header(header)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, Any] | None:
        if context.principal is None:
            params = context.connection_params or {}
            raw = params.get("Authorization") or params.get("authorization") or params.get("token")
            token = bearer_token(raw) if isinstance(raw, str) and " " in raw else raw
            try:
                context.principal = await authenticate(token if isinstance(token, str) else None)
            except InvalidToken:
                context.principal = None
        if context.principal is None:
            raise ConnectionRejectionError({"message": _UNAUTHENTICATED})
        # strawberry declares UNSET as Any.
        return cast(UnsetType, UNSET)

    # -- request JSON -------------------------------------------------------------------

    def decode_json(self, data: str | bytes) -> object:
        # Used for HTTP bodies and WebSocket messages: every failure is a JSONDecodeError,
        # which strawberry answers (a WebSocket closes with 4400) instead of crashing.
        try:
            value = json.loads(data)
        except RecursionError:
            raise TooDeep() from None
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # bad UTF-8, an integer of over 4,300 digits
            raise json.JSONDecodeError(str(exc)[:100], "", 0) from None
        if isinstance(value, (dict, list)) and json_depth_exceeds(value, MAX_JSON_DEPTH):
            raise TooDeep()
        return value

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = self.decode_json(data)
        except TooDeep as exc:
            raise RequestRejected(400, exc.msg, codes.TOO_DEEP) from None
        except json.JSONDecodeError:
            raise RequestRejected(400, "The request body is not valid JSON",
                                  codes.BAD_REQUEST) from None
        if not isinstance(value, dict):  # strawberry reads it with .get(); batches are off
            raise RequestRejected(400, "Expected a JSON object such as {\"query\": \"...\"}",
                                  codes.BAD_REQUEST)
        return value

    # -- execution ----------------------------------------------------------------------

    async def execute_single(
        self, request: Request, request_adapter: Any, sub_response: Response,
        context: Context, root_value: None, request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        post = request_adapter.method == "POST"
        allowed = {OperationType.QUERY, OperationType.MUTATION} if post else {OperationType.QUERY}
        try:
            return await self.schema.execute(
                request_data.query, root_value=root_value,
                variable_values=request_data.variables, context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed, operation_extensions=request_data.extensions)
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise RequestRejected(
                    400, "Subscriptions run over a WebSocket: connect to /graphql with the "
                         "graphql-transport-ws protocol", codes.OPERATION_NOT_ALLOWED) from None
            raise RequestRejected(405, "Mutations must be sent with POST",
                                  codes.METHOD_NOT_ALLOWED, {"Allow": "POST"}) from None
        except CannotGetOperationTypeError as exc:
            raise RequestRejected(400, excerpt(exc.as_http_error_reason()),
                                  codes.BAD_REQUEST) from None
        except MissingQueryError:
            raise RequestRejected(400, "No GraphQL query found in the request",
                                  codes.BAD_REQUEST) from None

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        errors = data.get("errors")
        if errors:
            data["errors"] = shorten_errors(_with_codes(errors, result))
        return data

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
                        sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        limit = self.settings.max_response_bytes
        if len(response.body) > limit:
            return Response(error_body(
                f"The answer would be {len(response.body)} bytes, over the limit of {limit} "
                "(MAILSCANNER_MAX_RESPONSE_BYTES): ask for fewer items (first:) or fields",
                codes.RESPONSE_TOO_LARGE), media_type="application/json")
        return response


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a plain token (a proxy's id, to follow a request
    across systems), else a new one; it names the request in every log line it causes."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def _with_request_id(send: Send, request_id: str) -> Send:
    header = (b"x-request-id", request_id.encode())

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), header]}
        await send(message)

    return sending


def _with_codes(errors: list[Any], result: ExecutionResult) -> list[Any]:
    """A document that does not parse or validate gets a machine-readable code, as every
    other refusal has one (Apollo's names, which GraphQL clients already know)."""
    if result.data is not None or not result.errors:
        return errors
    out = []
    for formatted, error in zip(errors, result.errors, strict=False):
        extensions = formatted.get("extensions") or {}
        if "code" not in extensions and not error.path:
            code = (codes.GRAPHQL_PARSE_FAILED if isinstance(error, GraphQLSyntaxError)
                    else codes.GRAPHQL_VALIDATION_FAILED)
            formatted = {**formatted, "extensions": {**extensions, "code": code}}
        out.append(formatted)
    return out + errors[len(out):]


def shorten_errors(errors: list[Any]) -> list[Any]:
    """At most MAX_ERRORS errors, each message at most MAX_ERROR_CHARS characters."""
    out = []
    for error in errors[:MAX_ERRORS]:
        message = error.get("message")
        if isinstance(message, str) and len(message) > MAX_ERROR_CHARS:
            error = {**error, "message": excerpt(message, MAX_ERROR_CHARS)}
        out.append(error)
    if len(errors) > MAX_ERRORS:
        out.append({"message": f"{len(errors) - MAX_ERRORS} more errors not shown",
                    "extensions": {"code": "TOO_MANY_ERRORS"}})
    return out


async def authenticate_header(header: str | None) -> Principal:
    """The principal of an HTTP `Authorization` header, or RequestRejected (401 JSON) for a
    missing, malformed, unknown, revoked or expired token. For routes beside /graphql."""
    if header is None:
        raise RequestRejected(401, _UNAUTHENTICATED, codes.UNAUTHENTICATED,
                              {"WWW-Authenticate": _WWW_AUTHENTICATE})
    return await _authenticate_header(header)


async def _authenticate_header(header: str) -> Principal:
    token = bearer_token(header)
    challenge = {"WWW-Authenticate": _WWW_AUTHENTICATE + ', error="invalid_token"'}
    if token is None:
        raise RequestRejected(401, NOT_BEARER, codes.INVALID_TOKEN, challenge)
    try:
        principal = await authenticate(token)
    except InvalidToken as exc:
        raise RequestRejected(401, exc.message, codes.INVALID_TOKEN, challenge) from None
    assert principal is not None  # a non-empty token either authenticates or raises
    return principal
