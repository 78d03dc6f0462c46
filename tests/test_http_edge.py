"""The HTTP edge: the body cap and the body deadline, for declared and streamed bodies."""
# ruff: noqa: F811
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx2
from starlette.types import Message, Receive, Scope, Send

from mailscanner.app import create_app
from mailscanner.http_edge import BodyLimitMiddleware
from mailscanner.settings import Settings

# The `api` fixture lives with the resolver tests; imported here, so its name is reused by
# every test's parameter (F811 is that reuse, not a bug).
from .resolvers.conftest import Api, api  # noqa: F401

BIG = b'{"query": "{ me { name } }", "pad": "' + b"x" * (1024 * 1024) + b'"}'


async def test_a_body_over_the_cap_is_refused_with_413_before_parsing(api: Api) -> None:
    # when: a declared Content-Length over 1 MiB, authenticated
    response = await api.client.post(
        "/graphql", content=BIG, headers={"Authorization": f"Bearer {api.admin_token}",
                                          "Content-Type": "application/json"})
    # then
    assert response.status_code == 413
    assert response.json() == {"errors": [{
        "message": "The request body is larger than the limit of 1048576 bytes "
                   "(MAILSCANNER_MAX_REQUEST_BYTES)",
        "extensions": {"code": "REQUEST_TOO_LARGE"}}]}
    assert response.headers["connection"] == "close"


async def test_a_streamed_body_without_content_length_meets_the_same_cap(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BIG), 64 * 1024):
            yield BIG[start:start + 64 * 1024]

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"Authorization": f"Bearer {api.admin_token}",
                                               "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_the_cap_is_a_setting_and_guards_every_route(db: Settings) -> None:
    app = create_app(replace(db, max_request_bytes=10_000), start_services=False)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        small = await client.post("/oauth/microsoft/callback", content=b"state=x")
        big = await client.post("/oauth/microsoft/callback", content=b"x" * 10_001)
    assert small.status_code != 413
    assert big.status_code == 413


async def test_a_body_that_stops_half_way_gets_408_after_the_deadline() -> None:
    # given: an app that reads its whole body, behind a 0.2 s deadline
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the body never completes")

    messages = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # the client went silent
        raise AssertionError

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    # when
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}
    await asyncio.wait_for(BodyLimitMiddleware(app, 1000, 0.2)(scope, receive, send), 5)
    # then
    assert sent[0]["status"] == 408
    assert b"REQUEST_TIMEOUT" in sent[1]["body"]
