"""Dry run of 200 messages against a real Dovecot, beside a real scan of the same 200.

    .venv/bin/python bench/dry_run.py [--count 200] [--repeat 3] [--pg DSN] [--sqlite]

1. starts a private Dovecot and fills a mailbox with --count of bench/scan_throughput.py's
   realistic generated messages (20% already read);
2. on a fresh database built by migrations (PostgreSQL; with --sqlite also SQLite), the
   same 20 rules as scan_throughput.py (contacts, tickets, comments, invoices moved);
3. (a) `dry_run()` of the next scan's messages (ALL_SINCE_LAST_SCAN: all --count), --repeat
   times: the first includes starting the parse processes, the others are warm;
   (b) the same through GraphQL (`dryRunScanner` with every field, explanations included),
   timed from request to parsed JSON; and its response size;
   (c) the real first scan of the same messages (the baseline);
4. prints seconds, messages per second, the ratio dry run / scan, and the CPU time per
   message of this process (event loop + IMAP thread) and of its parse processes, which
   other load on the machine does not distort (the machine has 2 cores: rates alone hide
   who paid), beside the load average.
The issue's target: a dry run of 200 messages answers in under 2 s on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
from scan_throughput import _rules, _seed, generate

from mailscanner import rules_dsl
from mailscanner.app import create_app
from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.models import Encryption, Role, Rule, Scanner, ScanType
from mailscanner.resolvers.auth import create_token
from mailscanner.scanning import parse_pool, pipeline
from mailscanner.scanning.dry_run import DryRunOptions, dry_run
from mailscanner.settings import Settings, load_settings
from mailscanner.tests.fixtures.dovecot import start_dovecot, stop_dovecot
from mailscanner.tests.resolvers.test_dry_run import DRY_RUN


def own_cpu() -> tuple[float, float]:
    """CPU seconds so far of this process (all its threads) and of its parse processes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = 0.0
    for pid in parse_pool.worker_pids():
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        workers += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return usage.ru_utime + usage.ru_stime, workers


def cpu_per_message(before: tuple[float, float], messages: int) -> str:
    after = own_cpu()
    main, workers = (1000 * (a - b) / max(messages, 1) for a, b in zip(after, before, strict=True))
    return f"CPU per message: this process {main:.2f} ms, parse processes {workers:.2f} ms"


async def _scanner(port: int, user: str, password: str) -> Scanner:
    scanner = Scanner(
        name="bench", active=True, host="127.0.0.1", port=port, encryption=Encryption.SSL,
        validate_certificate=False, scan_type=ScanType.ALL_SINCE_LAST_SCAN, username=user,
    )
    scanner.set_password(password)
    await scanner.save()
    for seq, (condition, actions, cont) in enumerate(_rules(True)):
        await Rule.create(
            scanner=scanner, name=f"rule {seq}", sequence=seq, folders=["INBOX"],
            condition=json.loads(rules_dsl.dumps(rules_dsl.parse(condition))), actions=actions,
            continue_after_match=cont,
        )
    return scanner


async def _graphql(settings: Settings, scanner: Scanner, count: int) -> tuple[float, int, int]:
    app = create_app(settings, start_services=False)
    token = await create_token(Role.ADMIN, "bench", "Bench Admin")
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as client:
        t0 = time.perf_counter()
        response = await client.post(
            "/graphql",
            json={"query": DRY_RUN, "variables": {"id": str(scanner.id), "limit": count,
                                                  "messages": "NEXT_SCAN"}},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = response.json()
        elapsed = time.perf_counter() - t0
    messages = body["data"]["dryRunScanner"]["messages"]
    return elapsed, len(messages), len(response.content)


async def measure(url: str, port: int, user: str, password: str, args: Any) -> dict[str, Any]:
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"ms-bench-dry-{os.getpid()}"
    settings = load_settings({
        "DATABASE_URL": url, "MAILSCANNER_DATA_DIR": str(data_dir),
        "MAILSCANNER_SECRET_KEY": "bench-secret-key-0123456789",
    })
    await init_db(settings, migrate=settings.is_sqlite)
    out: dict[str, Any] = {"dry": []}
    try:
        scanner = await _scanner(port, user, password)
        options = DryRunOptions(limit=args.count, pick="next_scan")
        for _ in range(args.repeat):
            cpu, load = own_cpu(), os.getloadavg()[0]
            t0 = time.perf_counter()
            report = await dry_run(scanner, options, settings)
            elapsed = time.perf_counter() - t0
            out["dry"].append(
                (elapsed, len(report.messages), cpu_per_message(cpu, args.count), load)
            )
        out["graphql"] = await _graphql(settings, scanner, args.count)
        cpu, load = own_cpu(), os.getloadavg()[0]
        t0 = time.perf_counter()
        run = await pipeline.run_scan(scanner.id, settings=settings)
        elapsed = time.perf_counter() - t0
        cpu_used = cpu_per_message(cpu, run.processed)
        out["scan"] = (elapsed, run.processed, run.status.value, cpu_used, load)
    finally:
        await close_db()
    return out


async def _postgres(pg: str, port: int, user: str, password: str, args: Any) -> dict[str, Any]:
    base, _, _ = pg.rpartition("/")
    name = f"mailscanner_bench_dry_{os.getpid()}"
    admin = await asyncpg.connect(pg)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await run_migrations(f"{base}/{name}")
        return await measure(f"{base}/{name}", port, user, password, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def report(label: str, result: dict[str, Any], count: int, first: bool) -> None:
    print(f"== {label} ==")
    for i, (seconds, n, cpu, load) in enumerate(result["dry"]):
        kind = "cold: parse processes start" if i == 0 and first else "warm"
        print(f"(a) dry run ({kind}): {n} msgs in {seconds:.2f} s = {n / seconds:,.0f} msg/s "
              f"[load {load:.1f}]")
        print(f"    {cpu}")
    seconds, n, size = result["graphql"]
    print(f"(b) dryRunScanner over GraphQL: {n} msgs in {seconds:.2f} s, {size / 1e6:.1f} MB JSON")
    scan_s, processed, status, cpu, load = result["scan"]
    print(f"(c) real first scan of the same (baseline): {processed} msgs in {scan_s:.2f} s = "
          f"{processed / scan_s:,.0f} msg/s; {status} [load {load:.1f}]")
    print(f"    {cpu}")
    warm = statistics.median(s for s, *_ in result["dry"][1:] or result["dry"])
    print(f"dry run (warm median) {warm:.2f} s vs scan {scan_s:.2f} s: ratio {warm / scan_s:.2f};"
          f" target < 2 s for {count}: {'met' if max(warm, seconds) < 2 else 'NOT met'} "
          f"(GraphQL {seconds:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="also on SQLite")
    parser.add_argument(
        "--pg",
        default=os.environ.get("MAILSCANNER_TEST_PG", "postgres://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    messages = generate(args.count)
    print(f"messages: {len(messages)} ({sum(len(m['msg']) for m in messages) / 1e6:.1f} MB); "
          f"parse processes: {load_settings().parse_processes} of {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")
    server = start_dovecot()
    try:
        user = _seed(server, messages)
        result = asyncio.run(_postgres(args.pg, server.imaps_port, user.name, user.password, args))
        report("PostgreSQL", result, args.count, first=True)
        if args.sqlite:
            user = _seed(server, messages)
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ms-bench-dry-{os.getpid()}.sqlite3"
            path.unlink(missing_ok=True)
            result = asyncio.run(
                measure(f"sqlite://{path}", server.imaps_port, user.name, user.password, args)
            )
            report("SQLite", result, args.count, first=False)
            path.unlink(missing_ok=True)
    finally:
        stop_dovecot(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
