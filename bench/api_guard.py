"""Benchmark: what the API's request guards cost per request, against the same app without them.

Run: ``.venv/bin/python bench/api_guard.py [--count 400] [--postgres]``

The app is driven in this process through httpx2's ASGI transport on a fresh SQLite file (or
the machine's PostgreSQL with --postgres). Two apps over the same database, same run:
  * guarded: the app as shipped (body cap middleware, token check, request JSON depth check,
    input guard on every root field, response size check, security headers);
  * baseline: the same app with the input guard extension removed and the JSON depth check
    and response size check bypassed (middleware stays: it only counts bytes).
Series: a createTicket mutation with a 2,000-character description, and a tickets(first: 50)
query; each request sequential. Printed: p50 latency, requests/s and CPU ms per request
(process time, both cores counted), and the guarded/baseline ratio.
Also the guards alone on the largest inputs they accept: the depth walk of a 1 MiB request
body holding 100,000 list items, and the input walk of a 100,000-character description.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import strawberry

from mailscanner import graphql_view
from mailscanner.app import create_app
from mailscanner.db import close_db, init_db
from mailscanner.models import Role
from mailscanner.resolvers import schema as schema_module
from mailscanner.resolvers.auth import create_token
from mailscanner.resolvers.input_guard import InputGuard
from mailscanner.settings import load_settings

CREATE = ("mutation($i: CreateTicketInput!) { createTicket(input: $i) { __typename "
          "... on TicketPayload { ticket { id number } } } }")
LIST = "{ tickets(first: 50) { totalCount edges { node { number title status } } } }"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"


def _unguarded_schema() -> strawberry.Schema:
    guarded = schema_module.build_schema()
    extensions = [e for e in guarded.extensions if e is not InputGuard]
    return schema_module.Schema(query=schema_module.Query, mutation=schema_module.Mutation,
                                subscription=schema_module.Subscription, extensions=extensions)


async def _series(client: httpx2.AsyncClient, token: str, body: dict[str, Any],
                  count: int) -> tuple[float, float, float]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        response = await client.post("/graphql", json=body, headers=headers)
        latencies.append(time.perf_counter() - start)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return statistics.median(latencies) * 1000, count / wall, cpu / count * 1000


async def _database(tmp: Path, postgres: bool) -> tuple[dict[str, str], str | None]:
    env = {"MAILSCANNER_DATA_DIR": str(tmp), "MAILSCANNER_SECRET_KEY": "bench-secret-0123456789"}
    if not postgres:
        return env, None
    import asyncpg

    name = f"mailscanner_bench_{os.getpid()}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    env["DATABASE_URL"] = PG_ADMIN.rpartition("/")[0] + "/" + name
    return env, name


def _use(app: Any, schema: strawberry.Schema, depth_check: Any) -> Any:
    """Point the app's GraphQL view at `schema`, and the view module at `depth_check`."""
    graphql_view.json_depth_exceeds = depth_check
    view = next(r for r in app.routes if getattr(r, "path", "") == "/graphql").endpoint
    view.schema = schema
    return app


async def main(count: int, postgres: bool) -> None:
    env, pg_name = await _database(Path(tempfile.mkdtemp(prefix="bench-guard-")), postgres)
    settings = load_settings(env)
    await init_db(settings, migrate=True)
    try:
        token = await create_token(Role.AGENT, "bench")
        guarded = (create_app(settings, start_services=False), schema_module.schema, _depth)
        baseline = (create_app(settings, start_services=False), _unguarded_schema(),
                    lambda value, limit: False)
        series = {"createTicket": {"query": CREATE, "variables": {
                      "i": {"title": "Bench", "description": "d" * 2000}}},
                  "tickets(first: 50)": {"query": LIST}}
        results: dict[tuple[str, str], tuple[float, float, float]] = {}
        for name, body in series.items():
            for label, (app, schema, depth_check) in (("baseline", baseline),
                                                      ("guarded", guarded)):
                async with httpx2.AsyncClient(
                        transport=httpx2.ASGITransport(app=_use(app, schema, depth_check)),
                        base_url="http://bench") as client:
                    await _series(client, token, body, 20)  # warm up
                    results[(name, label)] = await _series(client, token, body, count)
        graphql_view.json_depth_exceeds = _depth
    finally:
        await close_db()
        if pg_name:
            import asyncpg

            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()
    print(f"database: {'postgres' if postgres else 'sqlite'}; {count} sequential requests each")
    for name in series:
        base, guard = results[(name, "baseline")], results[(name, "guarded")]
        print(f"{name:20} baseline p50 {base[0]:6.2f} ms {base[1]:5.0f}/s CPU {base[2]:5.2f} ms"
              f" | guarded p50 {guard[0]:6.2f} ms {guard[1]:5.0f}/s CPU {guard[2]:5.2f} ms"
              f" | CPU ratio {guard[2] / base[2]:.2f}")
    _alone()


_depth = graphql_view.json_depth_exceeds


def _alone() -> None:
    from mailscanner.resolvers.input_guard import _Walk
    from mailscanner.resolvers.schema import schema

    value = json.loads(json.dumps({"query": "x", "variables": {"s": ["OPEN"] * 100_000}}))
    start = time.process_time()
    for _ in range(10):
        _depth(value, graphql_view.MAX_JSON_DEPTH)
    print(f"depth walk of a 100,000-item body: {(time.process_time() - start) / 10 * 1000:.1f} ms")
    input_type = schema._schema.type_map["CreateTicketInput"]
    start = time.process_time()
    for _ in range(100):
        _Walk().value(input_type, {"title": "t", "description": "d" * 100_000},  # type: ignore[arg-type]
                      "Mutation.createTicket(input:)", "input")
    print(f"input walk, 100,000-character description: "
          f"{(time.process_time() - start) / 100 * 1000:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.postgres))
