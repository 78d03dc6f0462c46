"""The Starlette application: /graphql (API + GraphiQL + subscriptions), /healthz (liveness),
/readyz (readiness), /metrics (Prometheus, see ops/serving.py), /attachments/{id}
(downloads) and the OAuth callbacks (Microsoft, Google)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from .db import close_db, init_db
from .graphql_view import GraphQLView
from .http_edge import BodyLimitMiddleware, SecurityHeadersMiddleware
from .resolvers.schema import schema
from .settings import Settings, load_settings

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers, migrations are at head and Redis (if set) answers;
    else 503 naming each failing part."""
    from .ops.readiness import check
    problems = await check(request.app.state.settings)
    if problems:
        return JSONResponse({"status": "unavailable",
                             "failing": {p.part: p.message for p in problems}}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    from .ops.serving import render
    body, content_type = await render()
    return Response(body, headers={"Content-Type": content_type})


async def attachment_download(request: Request) -> Response:
    from .attachments_http import download
    return await download(request)


async def microsoft_callback(request: Request) -> Response:
    # Imported on use: msal is only needed once someone authorizes a Microsoft account.
    from .resolvers.oauth_callback import microsoft_callback as endpoint
    return await endpoint(request)


async def google_callback(request: Request) -> Response:
    from .resolvers.oauth_callback import google_callback as endpoint
    return await endpoint(request)


async def _start_services(settings: Settings) -> contextlib.AsyncExitStack:
    """Templates, then the job queue: in-process (embedded) or arq on Redis; then the
    metrics' queue depth sample and, with MAILSCANNER_METRICS=PORT, their own listener."""
    stack = contextlib.AsyncExitStack()
    from .ops import collectors
    from .workers.depth import sample
    collectors.install(sample)
    stack.callback(collectors.install, None)
    if settings.metrics.isdigit():
        from .ops.serving import PortServer
        server = PortServer(int(settings.metrics))
        server.start()
        stack.callback(server.stop)
    from .outbound.templates import ensure_default_templates
    await ensure_default_templates()
    from .workers.runtime import start_for_api
    stack.push_async_callback(await start_for_api(settings))
    return stack


class App(Starlette):
    """Starlette with the security headers outermost, so they are on every response, even
    the 500 page of Starlette's ServerErrorMiddleware."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app(settings: Settings | None = None, *, migrate: bool | None = None,
               start_services: bool = True) -> Starlette:
    """Build the app. `migrate` defaults to True on SQLite (the embedded default creates its
    schema)."""
    settings = settings or load_settings()
    do_migrate = settings.is_sqlite if migrate is None else migrate

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await init_db(settings, migrate=do_migrate)
        try:
            if start_services:
                async with await _start_services(settings):
                    yield
            else:
                yield
        finally:
            await close_db()

    view = GraphQLView(schema, settings)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *([Route("/metrics", metrics)] if settings.metrics == "api" else []),
        Route("/graphql", view, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", view),
        Route("/attachments/{id}", attachment_download, methods=["GET", "HEAD"]),
        Route("/oauth/microsoft/callback", microsoft_callback, methods=["GET", "POST"]),
        Route("/oauth/google/callback", google_callback, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    # Uploads: the files of one comment (at most the attachment limit in total) plus the
    # JSON parts and multipart framing, which the plain request limit bounds.
    middleware = [Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                             timeout=settings.request_timeout,
                             upload_bytes=settings.max_attachment_bytes
                             + settings.max_request_bytes)]
    app = App(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.settings = settings
    return app
