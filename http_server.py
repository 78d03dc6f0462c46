"""The uvicorn configuration `mailscanner serve` runs with: no connection stays open for free.

What uvicorn bounds by itself: a request head over ~80 KiB is refused (httptools), an idle
keep-alive connection is closed after `timeout_keep_alive` seconds, WebSocket messages over
`ws_max_size` close the socket, and WebSocket pings detect a dead peer.

What it does not: a connection that never sends a complete request head (a fresh connection
that sends nothing, or half a request) is kept forever, so a few hundred sockets opened by
anyone would hold the server's file descriptors. `BoundedHttpToolsProtocol` arms a timer when
a connection opens and whenever a request starts, and cancels it once the head is complete:
a head not completed within `request_timeout` seconds closes the connection. A body that
stops half-way is refused by http_edge.BodyLimitMiddleware with the same timeout.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import Settings

KEEP_ALIVE_SECONDS = 5
_LOGGED_PATH_CHARS = 200


# Query parameters whose values are credentials: an OAuth callback's authorization code
# (Google returns it in the query string) and anything named like a token or secret.
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:code|state|token|access_token|id_token|refresh_token|client_secret)=)[^&#]*")


class ShortPaths(logging.Filter):
    """Access log lines show at most 200 characters of the path and query string: a GET
    query can be ~80 KiB, and a log line is no place for it. Credentials in the query
    string (an OAuth callback's `code`) are replaced by `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = _SECRET_PARAMS.sub(r"\1***", args[2])
            record.args = (*args[:2], path, *args[3:])
            if len(path) > _LOGGED_PATH_CHARS:
                record.args = (*args[:2], f"{path[:_LOGGED_PATH_CHARS]}…", *args[3:])
        return True


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.logger.debug("closing a connection that sent no complete request head")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()


class Server(uvicorn.Server):
    """uvicorn that tells running jobs to stop (ops/shutdown.py) as soon as SIGTERM arrives,
    while it drains its connections, rather than only when the lifespan ends."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        from .ops import shutdown
        shutdown.request()
        super().handle_exit(sig, frame)


def server_config(app: Any, settings: Settings, *, host: str, port: int,
                  log_level: str = "info") -> uvicorn.Config:
    protocol = type("HttpProtocol", (BoundedHttpToolsProtocol,),
                    {"head_timeout": settings.request_timeout})
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, http=protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS, ws_max_size=settings.max_request_bytes,
        # Half the shutdown budget for open requests and WebSockets, the rest for the jobs.
        timeout_graceful_shutdown=max(1, int(settings.shutdown_seconds / 2)),
        log_config=None)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, ShortPaths) for f in access.filters):
        access.addFilter(ShortPaths())
    return config
