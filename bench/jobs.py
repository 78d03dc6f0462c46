"""Benchmark: the jobs layer on the local Redis, against arq's own bare worker, same run.

Run: ``.venv/bin/python bench/jobs.py [--jobs 1000] [--latency-jobs 200] [--mailboxes 10]
[--messages 200] [--postgres]``

Part 1, queue overhead (one process, Redis at 127.0.0.1:6379 db 12, keys under a unique
prefix, deleted afterwards):
  * throughput: N jobs enqueued, then one burst worker drains them; jobs/s over the whole
    drain and enqueue-to-start latency (which includes waiting behind the backlog);
  * latency: an idle, running worker; one job every 20 ms; enqueue-to-start p50/p95/max.
    arq polls its queue every `poll_delay` (0.5 s by default; ours is 0.1 s), which dominates:
    bare arq runs with both values.
  Series: arq's bare Worker with an empty job; our `ArqQueue` + our worker (`make_worker`:
  our startup, locks, Redis event broker) with the same empty job; our real `scan_scanner`
  on rule-less scanners (scanner lock in Redis, ScanRun rows, the pipeline's no-folder path);
  and the embedded `InProcessQueue` with the empty job and with `scan_scanner`.
Part 2, scans of M mailboxes (real Dovecot, `--messages` mails each, one create-ticket rule)
by 1 and then 2 `mailscanner worker` processes on PostgreSQL (several processes need a
database that takes concurrent writers); fresh mailboxes per round; time from enqueueing the
ten scans to the last one finished; ratio = 1-worker time / 2-worker time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

from mailscanner import rules_dsl
from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.models import Rule, Scanner, ScanRun, ScanRunStatus
from mailscanner.settings import Settings, load_settings
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.queue import ArqQueue, set_queue
from mailscanner.workers.runtime import start_embedded
from mailscanner.workers.scan import enqueue_scan
from mailscanner.workers.settings import build_functions, make_worker, shutdown

REDIS_URL = "redis://127.0.0.1:6379/12"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"
STARTS: dict[str, float] = {}


async def empty(ctx: dict[str, Any], key: str, enqueued: float) -> None:
    STARTS[key] = time.time() - enqueued


def summary(name: str, latencies: list[float], wall: float | None = None) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    row: dict[str, Any] = {
        "series": name,
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 1),
        "max_ms": round(ms[-1], 1),
    }
    if wall is not None:
        row["jobs_per_s"] = round(len(ms) / wall, 1)
    return row


# ---------------------------------------------------------------- part 1: queue overhead
async def drain(worker: Worker) -> None:
    await worker.async_run()


def bare_worker(pool: ArqRedis, config: JobsConfig, poll_delay: float, **kw: Any) -> Worker:
    return Worker(
        functions=[func(empty, name="empty", keep_result=0)],
        redis_pool=pool,
        queue_name=config.queue_name,
        handle_signals=False,
        poll_delay=poll_delay,
        **kw,
    )


async def throughput_arq(
    pool: ArqRedis, config: JobsConfig, n: int, poll_delay: float
) -> dict[str, Any]:
    STARTS.clear()
    t0 = time.time()
    for i in range(n):
        await pool.enqueue_job("empty", f"a{i}", time.time(), _queue_name=config.queue_name)
    await drain(bare_worker(pool, config, poll_delay, burst=True))
    return summary(
        f"arq bare worker (poll {poll_delay}s), empty job", list(STARTS.values()), time.time() - t0
    )


async def ours_worker(pool: ArqRedis, config: JobsConfig, settings: Settings, **kw: Any) -> Worker:
    return make_worker(
        config,
        redis_pool=pool,
        handle_signals=False,
        cron_jobs=[],
        functions=[*build_functions(config), func(empty, name="empty", keep_result=0)],
        ctx={"jobs_config": config, "settings": settings, "owns_db": False},
        **kw,
    )


async def throughput_ours(
    pool: ArqRedis, config: JobsConfig, settings: Settings, n: int
) -> dict[str, Any]:
    STARTS.clear()
    queue = ArqQueue(pool, config)
    t0 = time.time()
    for i in range(n):
        await queue.enqueue("empty", f"o{i}", time.time(), job_id=f"bench:{i}")
    worker = await ours_worker(pool, config, settings, burst=True)
    try:
        await drain(worker)
    finally:
        await shutdown(worker.ctx)
    return summary(
        f"ours (ArqQueue + our worker, poll {config.poll_delay_seconds}s), empty job",
        list(STARTS.values()),
        time.time() - t0,
    )


async def scanners(n: int) -> list[int]:
    await Scanner.bulk_create(
        [Scanner(name=f"bench-{uuid.uuid4().hex[:8]}-{i}", host="imap.invalid") for i in range(n)]
    )
    return list(await Scanner.filter(name__startswith="bench-").values_list("id", flat=True))


async def throughput_scans_ours(
    pool: ArqRedis, config: JobsConfig, settings: Settings, n: int
) -> dict[str, Any]:
    ids = await scanners(n)
    set_queue(ArqQueue(pool, config))
    t0 = time.time()
    for scanner_id in ids:
        await enqueue_scan(scanner_id, "manual")
    worker = await ours_worker(pool, config, settings, burst=True)
    try:
        await drain(worker)
    finally:
        await shutdown(worker.ctx)
    wall = time.time() - t0
    runs = await ScanRun.filter(scanner_id__in=ids).values("queued_at", "started_at", "status")
    assert all(r["status"] == ScanRunStatus.SUCCEEDED for r in runs)
    await Scanner.filter(id__in=ids).delete()
    return summary(
        f"ours (poll {config.poll_delay_seconds}s), scan_scanner (lock + ScanRun + no-folder scan)",
        [(r["started_at"] - r["queued_at"]).total_seconds() for r in runs],
        wall,
    )


async def throughput_embedded(
    settings: Settings, config: JobsConfig, n: int
) -> list[dict[str, Any]]:
    STARTS.clear()
    runner = await start_embedded(settings, config, cron=False)
    runner.queue.functions["empty"] = func(empty, name="empty")
    t0 = time.time()
    for i in range(n):
        await runner.queue.enqueue("empty", f"e{i}", time.time(), job_id=f"e{i}")
    await runner.queue.join()
    rows = [summary("embedded InProcessQueue, empty job", list(STARTS.values()), time.time() - t0)]
    ids = await scanners(n)
    t0 = time.time()
    for scanner_id in ids:
        await enqueue_scan(scanner_id, "manual")
    await runner.queue.join()
    wall = time.time() - t0
    await runner.stop()
    runs = await ScanRun.filter(scanner_id__in=ids).values("queued_at", "started_at")
    rows.append(
        summary(
            "embedded, scan_scanner",
            [(r["started_at"] - r["queued_at"]).total_seconds() for r in runs],
            wall,
        )
    )
    await Scanner.filter(id__in=ids).delete()
    return rows


async def idle_latency(name: str, enqueue: Any, n: int) -> dict[str, Any]:
    STARTS.clear()
    for i in range(n):
        await enqueue(f"l{i}", time.time())
        await asyncio.sleep(0.02)
    while len(STARTS) < n:
        await asyncio.sleep(0.05)
    return summary(name, list(STARTS.values()))


async def latencies(
    pool: ArqRedis, config: JobsConfig, settings: Settings, n: int
) -> list[dict[str, Any]]:
    rows = []
    for poll in (0.5, config.poll_delay_seconds):
        task = asyncio.create_task(bare_worker(pool, config, poll).async_run())
        rows.append(
            await idle_latency(
                f"arq bare worker (poll {poll}s), idle, 1 job / 20 ms",
                lambda k, t: pool.enqueue_job("empty", k, t, _queue_name=config.queue_name),
                n,
            )
        )
        task.cancel()
    ours = await ours_worker(pool, config, settings)
    task = asyncio.create_task(ours.async_run())
    queue = ArqQueue(pool, config)
    rows.append(
        await idle_latency(
            f"ours (poll {config.poll_delay_seconds}s), idle, 1 job / 20 ms",
            lambda k, t: queue.enqueue("empty", k, t, job_id=k),
            n,
        )
    )
    task.cancel()
    await shutdown(ours.ctx)
    runner = await start_embedded(settings, config, cron=False)
    runner.queue.functions["empty"] = func(empty, name="empty")
    rows.append(
        await idle_latency(
            "embedded, idle, 1 job / 20 ms",
            lambda k, t: runner.queue.enqueue("empty", k, t, job_id=k),
            n,
        )
    )
    await runner.stop()
    return rows


# ---------------------------------------------------------------- part 2: 1 vs 2 workers
def mail(user: str, i: int) -> bytes:
    return (
        f"From: Customer <customer-of-{user}@example.com>\r\nTo: support@helpdesk.test\r\n"
        f"Subject: {user} request {i}\r\n"
        f"Message-ID: <{user}.{i}.{uuid.uuid4().hex}@example.com>\r\n"
        f"Date: Fri, 20 Nov 2026 10:00:00 +0000\r\n\r\nHello,\r\nplease help with {i}.\r\n"
    ).encode()


async def scan_round(
    server: Any,
    settings: Settings,
    config: JobsConfig,
    pool: ArqRedis,
    workers: int,
    mailboxes: int,
    messages: int,
    logdir: Path,
) -> float:
    from mailscanner.models import Encryption, ScanType

    ids = []
    condition = json.loads(rules_dsl.dumps(rules_dsl.parse("size > 0")))
    for _ in range(mailboxes):
        user = server.add_user()
        user.append("INBOX", [mail(user.name, i) for i in range(messages)])
        scanner = Scanner(
            name=f"round{workers}-{user.name}",
            host="127.0.0.1",
            port=server.imaps_port,
            encryption=Encryption.SSL,
            validate_certificate=False,
            scan_type=ScanType.UNREAD,
            username=user.name,
        )
        scanner.set_password(user.password)
        await scanner.save()
        await Rule.create(
            scanner=scanner,
            name="all",
            sequence=1,
            folders=["INBOX"],
            condition=condition,
            actions=[{"type": "create_or_update_ticket"}],
        )
        ids.append(scanner.id)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAILSCANNER_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": REDIS_URL,
            "MAILSCANNER_DATA_DIR": str(settings.data_dir),
            "MAILSCANNER_SECRET_KEY": settings.secret_key,
            "MAILSCANNER_REDIS_PREFIX": config.prefix,
            "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test",
            "MAILSCANNER_MAX_JOBS": str(config.max_jobs),
        }
    )
    procs = []
    for w in range(workers):
        log = open(logdir / f"round{workers}-worker{w}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "mailscanner", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        health = config.queue_name + ":health-check"
        while not await pool.exists(health):  # the workers are up (arq writes this at start)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # and the second one too
        set_queue(ArqQueue(pool, config))
        cpu0 = [psutil.Process(p.pid).cpu_times() for p in procs]
        machine0 = psutil.cpu_times()
        t0 = time.time()
        for scanner_id in ids:
            await enqueue_scan(scanner_id, "manual")
        while await ScanRun.filter(
            scanner_id__in=ids, status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]
        ).exists():
            await asyncio.sleep(0.05)
        wall = time.time() - t0
        used = [psutil.Process(p.pid).cpu_times() for p in procs]
        workers_cpu = sum(
            u.user + u.system - c.user - c.system for u, c in zip(used, cpu0, strict=True)
        )
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - (sum(machine0) - machine0.idle)
        print(
            f"  {workers} worker(s): worker CPU {workers_cpu / wall:.2f} cores, "
            f"whole machine {busy / wall:.2f} of {psutil.cpu_count()} cores busy",
            flush=True,
        )
        failed = await ScanRun.filter(scanner_id__in=ids, status=ScanRunStatus.FAILED).values_list(
            "error", flat=True
        )
        assert not failed, failed
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
    return wall


async def pg_settings(tmp: Path, name: str) -> Settings:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = PG_ADMIN.rpartition("/")[0] + "/" + name
    await run_migrations(url)
    return load_settings(
        {
            "DATABASE_URL": url,
            "MAILSCANNER_DATA_DIR": str(tmp),
            "MAILSCANNER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        }
    )


async def drop_pg(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    config = JobsConfig(prefix=f"bench:{uuid.uuid4().hex[:8]}:", scan_timeout_seconds=600)
    pg_name = f"mailscanner_bench_jobs_{os.getpid()}"
    if args.postgres:
        settings = await pg_settings(tmp, pg_name)
        await init_db(settings)
    else:
        settings = load_settings(
            {
                "DATABASE_URL": f"sqlite://{tmp / 'bench.sqlite3'}",
                "MAILSCANNER_DATA_DIR": str(tmp),
                "MAILSCANNER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            }
        )
        await init_db(settings, generate=True)
    pool = await create_pool(
        RedisSettings.from_dsn(REDIS_URL), default_queue_name=config.queue_name
    )
    rows: list[dict[str, Any]] = []
    try:
        print(
            f"part 1: {args.jobs} jobs, DB {'PostgreSQL' if args.postgres else 'SQLite'}",
            flush=True,
        )
        rows.append(await throughput_arq(pool, config, args.jobs, 0.5))
        rows.append(await throughput_arq(pool, config, args.jobs, config.poll_delay_seconds))
        rows.append(await throughput_ours(pool, config, settings, args.jobs))
        rows.append(await throughput_scans_ours(pool, config, settings, args.jobs))
        rows += await throughput_embedded(settings, config, args.jobs)
        rows += await latencies(pool, config, settings, args.latency_jobs)
        for row in rows:
            print("  " + json.dumps(row), flush=True)
    finally:
        await close_db()
        keys = [k async for k in pool.scan_iter(match=f"*{config.prefix}*")]
        if keys:
            await pool.delete(*keys)
    if args.mailboxes:
        from mailscanner.tests.fixtures.dovecot import start_dovecot, stop_dovecot

        print(
            f"part 2: {args.mailboxes} mailboxes x {args.messages} mails, PostgreSQL, "
            f"max_jobs {args.max_jobs} per worker",
            flush=True,
        )
        server = start_dovecot()
        pg2 = pg_name + "_scans"
        try:
            settings2 = await pg_settings(tmp, pg2)
            await init_db(settings2)
            config2 = JobsConfig(prefix=f"bench:{uuid.uuid4().hex[:8]}:", max_jobs=args.max_jobs)
            one = await scan_round(
                server, settings2, config2, pool, 1, args.mailboxes, args.messages, tmp
            )
            two = await scan_round(
                server, settings2, config2, pool, 2, args.mailboxes, args.messages, tmp
            )
            total = args.mailboxes * args.messages
            print(
                "  "
                + json.dumps(
                    {"workers": 1, "seconds": round(one, 2), "mails_per_s": round(total / one)}
                )
            )
            print(
                "  "
                + json.dumps(
                    {"workers": 2, "seconds": round(two, 2), "mails_per_s": round(total / two)}
                )
            )
            print(f"  ratio 1-worker/2-worker time: {one / two:.2f}")
        finally:
            await close_db()
            stop_dovecot(server)
            await drop_pg(pg2)
            keys = [k async for k in pool.scan_iter(match="*bench:*")]
            if keys:
                await pool.delete(*keys)
    await pool.aclose()
    if args.postgres:
        await drop_pg(pg_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=JobsConfig().max_jobs,
        help="part 2: concurrent jobs per worker (MAILSCANNER_MAX_JOBS)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="part 1 on PostgreSQL instead of SQLite"
    )
    asyncio.run(main(parser.parse_args()))
