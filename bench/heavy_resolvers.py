"""Benchmark: /healthz latency while a heavy explainRule runs, isolated vs on the event loop.

Run: ``.venv/bin/python bench/heavy_resolvers.py``

The app runs in this process (httpx2's ASGI transport, a fresh SQLite file). One
explainRule request whose work takes seconds of CPU (300 backtracking-prone patterns over
650 KB of text) is sent while /healthz is polled every 5 ms. Printed: the explain's
duration and the gaps between consecutive /healthz answers during it (p50 and max: the
longest a health check waited), for the app as shipped (the work in
an isolated process) and for a baseline measured in the same run that does the same work
on the event loop (what main did), plus /healthz with nothing else running.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from typing import Any

import httpx2

from mailscanner import isolated
from mailscanner.app import create_app
from mailscanner.db import close_db, init_db
from mailscanner.models import Role
from mailscanner.resolvers import rule_work
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import load_settings

EXPLAIN = """query($raw: String!, $text: String) { explainRule(rawEmail: $raw,
  conditionText: $text) { __typename } }"""
RAW = ("From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\n"
       + "lorem ipsum dolor sit amet " * 25000)
CONDITION = " or ".join(f"body matches /(lorem|ipsum)+ needle{i}/" for i in range(300))


async def _on_the_loop(budget_s: float, fn: Any, *args: Any) -> Any:
    return fn(*args)  # the baseline: the work done where main did it


async def _poll(client: httpx2.AsyncClient, until: asyncio.Future[Any]) -> list[float]:
    """The gaps between consecutive /healthz answers (from the start, up to the end): how
    long a health check would have waited at worst (a blocked loop blocks the poller too)."""
    gaps = []
    last = time.perf_counter()
    while not until.done():
        await client.get("/healthz")
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        await asyncio.sleep(0.005)  # an in-process request may never suspend: let others run
    gaps.append(time.perf_counter() - last)
    return gaps


async def _run(client: httpx2.AsyncClient, token: str) -> tuple[float, list[float]]:
    start = time.perf_counter()
    request = asyncio.ensure_future(client.post(
        "/graphql", json={"query": EXPLAIN, "variables": {"raw": RAW, "text": CONDITION}},
        headers={"Authorization": f"Bearer {token}"}))
    latencies = await _poll(client, request)
    response = await request
    assert response.json()["data"]["explainRule"]["__typename"] == "RuleExplanation"
    return time.perf_counter() - start, latencies


def _ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"


async def main() -> None:
    env = {"MAILSCANNER_DATA_DIR": tempfile.mkdtemp(prefix="bench-heavy-"),
           "MAILSCANNER_SECRET_KEY": "bench-secret-0123456789"}
    settings = load_settings(env)
    await init_db(settings, migrate=True)
    try:
        token = await create_token(Role.ADMIN, "bench")
        app = create_app(settings, start_services=False)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://bench") as client:
            idle = await _poll(client, asyncio.ensure_future(asyncio.sleep(1.0)))
            await _run(client, token)  # warm up the isolated workers
            isolated_s, during = await _run(client, token)
            shipped = rule_work._isolated
            rule_work._isolated = _on_the_loop  # type: ignore[assignment]
            try:
                loop_s, blocked = await _run(client, token)
            finally:
                rule_work._isolated = shipped  # type: ignore[assignment]
    finally:
        await close_db()
        isolated.shutdown()
    print(f"/healthz gaps, nothing else running:    {_ms(idle)}  ({len(idle)} requests)")
    print(f"explainRule isolated   {isolated_s:5.2f} s; /healthz {_ms(during)}  "
          f"({len(during)} answered meanwhile)")
    print(f"explainRule on loop    {loop_s:5.2f} s; /healthz {_ms(blocked)}  "
          f"({len(blocked)} answered meanwhile)")
    print(f"longest /healthz gap, on loop / isolated: {max(blocked) / max(during):.0f}x")


if __name__ == "__main__":
    asyncio.run(main())
