"""ASGI middleware at the HTTP edge: request body bounds and security headers.

Body bounds, for every HTTP request, before any route reads a byte:
1. A declared Content-Length over `max_request_bytes` is refused at once: 413 with code
   REQUEST_TOO_LARGE and `Connection: close`, so the rest of the upload is not read.
2. Otherwise the body is counted as the app reads it, so a chunked upload (no
   Content-Length) or a lying Content-Length meets the same cap: passing it raises inside
   the app's `receive()`, nothing downstream has parsed anything yet, and the same 413 goes
   out.
3. The body must arrive within `request_timeout` seconds; a client that stops half-way gets
   408 REQUEST_TIMEOUT and the connection is closed. (A request whose *head* never completes
   is the server's business: see http_server.py.)

Failure story: the app only ever sees a complete body within the cap; a refused request has
executed nothing. If the app already started its response (it never does before reading
the body here), the error propagates and the server drops the connection.

Security headers: every response, whichever route or error produced it, carries
`X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
"""
from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import REQUEST_TIMEOUT, REQUEST_TOO_LARGE, RequestRejected

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_CLOSE = {"Connection": "close"}


def too_large(max_bytes: int, setting: str = "MAILSCANNER_MAX_REQUEST_BYTES") -> RequestRejected:
    return RequestRejected(
        413, f"The request body is larger than the limit of {max_bytes} bytes "
             f"({setting})", REQUEST_TOO_LARGE, _CLOSE)


class BodyLimitMiddleware:
    """`upload_bytes`: the cap of a multipart/form-data POST to one of `upload_paths` (file
    uploads; the multipart parser spools files to disk), instead of `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float, upload_bytes: int = 0,
                 upload_paths: tuple[str, ...] = ("/graphql",)) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.upload_bytes = upload_bytes
        self.upload_paths = upload_paths

    def _limit(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str]:
        ctype = headers.get(b"content-type", b"").lower()
        if (self.upload_bytes and scope.get("method") == "POST"
                and scope.get("path") in self.upload_paths
                and ctype.startswith(b"multipart/form-data")):
            return self.upload_bytes, "MAILSCANNER_MAX_ATTACHMENT_BYTES plus the request limit"
        return self.max_bytes, "MAILSCANNER_MAX_REQUEST_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        max_bytes, setting = self._limit(scope, headers)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await too_large(max_bytes, setting).response()(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received = 0
        body_done = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() only waits for a disconnect: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise RequestRejected(
                    408, f"The request body did not arrive within {self.timeout:g} seconds",
                    REQUEST_TIMEOUT, _CLOSE) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large(max_bytes, setting)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except RequestRejected as exc:
            if started:
                raise
            await exc.response()(scope, receive, send)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
