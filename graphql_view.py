"""The strawberry ASGI view: bearer-token auth, per-request context, offline GraphiQL."""
from __future__ import annotations

from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from .resolvers.auth import authenticate, bearer_token
from .resolvers.context import Context
from .settings import Settings

# The page strawberry renders loads these from unpkg.com; we serve the same files (same SRI
# hashes, so the integrity attributes stay valid) so GraphiQL works with no internet.
_ASSETS = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}
STATIC_PREFIX = "/static/graphiql/"
_UNAUTHENTICATED = "Authentication required: send 'Authorization: Bearer <token>'"


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(schema, graphql_ide="graphiql", **kwargs)
        self.settings = settings
        html = self.graphql_ide_html
        for remote, local in _ASSETS.items():
            html = html.replace(remote, STATIC_PREFIX + local)
        self._ide_html = html

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = await authenticate(bearer_token(request.headers.get("authorization")))
        if principal is None and isinstance(request, Request) and not _wants_ide(request):
            raise HTTPException(401, _UNAUTHENTICATED)
        return Context(
            settings=self.settings, principal=principal, request=request, response=response
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, Any] | None:
        # Browsers cannot set headers on a WebSocket: accept the token in connection_init too.
        if context.principal is None:
            params = context.connection_params or {}
            raw = params.get("Authorization") or params.get("authorization") or params.get("token")
            token = bearer_token(raw) if raw and " " in str(raw) else raw
            context.principal = await authenticate(str(token) if token else None)
        if context.principal is None:
            raise ConnectionRejectionError({"message": _UNAUTHENTICATED})
        # strawberry declares UNSET as Any.
        return cast(UnsetType, UNSET)


def _wants_ide(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
