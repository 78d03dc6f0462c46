"""Benchmark: new mail to ticket with push (IMAP IDLE), 1 to 1,000 watched mailboxes.

Run (as root, for the inotify sysctl): ``.venv/bin/python bench/push_latency.py
[--sizes 1,100,1000] [--modes embedded,redis] [--window 60] [--scan-mailbox 1000]``

Everything is real and on this machine: a Dovecot of its own (users created here, IMAPS,
`process_limit` raised, `fs.inotify.max_user_instances` raised for the run and restored),
SQLite for the embedded mode, PostgreSQL + Redis for the other.

Per mode and size N (N mailboxes, one scanner each, one create-ticket rule, interval an
hour so only push can scan):
  * ramp: time until every watcher idles and the catch-up scans are done;
  * latency: one new message per mailbox at a random time within `--window` seconds (for
    N < 20, 20 messages spread over the mailboxes), APPENDed by a separate process; the
    latency of a message is from the APPEND being sent to its ticket arriving through the
    `ticketEvents` GraphQL subscription of this process; p50 / p95 / max;
  * watcher cost: resident memory per watched folder (the `mailscanner watch` process in
    the Redis mode; this whole process in the embedded mode, an upper bound) and its CPU
    per mailbox per hour while idle and per message during the arrivals;
  * scans: how many runs the arrivals caused (coalescing).
Baselines measured in the same run:
  * the floor: APPEND to `* n EXISTS` on a bare idling connection (Dovecot batches change
    notifications for ~0.5 s, so no IDLE-based design can beat it against Dovecot);
  * polling: with the 1-minute minimum interval, a message waits 30 s on average for its
    poll; the figure printed beside the push latency is that interval's expectation;
  * the cheap check: on an unchanged mailbox of `--scan-mailbox` messages, a watcher's
    STATUS on its open connection, the safety-net check (login + STATUS per folder), and
    a full scan (`run_scan`) that finds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO.parent))  # `mailscanner.tests` (the Dovecot fixture) from a checkout

import asyncpg  # noqa: E402
import imapclient  # noqa: E402
import psutil  # noqa: E402

from mailscanner import events, rules_dsl  # noqa: E402
from mailscanner.db import close_db, init_db, run_migrations  # noqa: E402
from mailscanner.models import (  # noqa: E402
    Encryption,
    PushState,
    PushStatus,
    Role,
    Rule,
    Scanner,
    ScanRun,
    ScanRunStatus,
    ScanType,
)
from mailscanner.settings import Settings, load_settings  # noqa: E402
from mailscanner.tests.fixtures.dovecot import (  # noqa: E402
    DovecotServer,
    ImapUser,
    start_dovecot,
    stop_dovecot,
)
from mailscanner.transport.imap import ImapSettings  # noqa: E402
from mailscanner.transport.imap_idle import IdleClient  # noqa: E402
from mailscanner.watch.config import WatchConfig  # noqa: E402
from mailscanner.workers.config import JobsConfig  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key-0123456789abcdef"
SUBSCRIBE = "subscription { ticketEvents { kind ticket { title } } }"
DOVECOT_CONF = """
service imap {{
  process_limit = {limit}
}}
service imap-login {{
  service_count = 0
  client_limit = {limit}
  process_min_avail = 2
}}
default_client_limit = {limit}
protocol imap {{
  mail_max_userip_connections = 20
}}
"""
SYSCTLS = {"fs.inotify.max_user_instances": 8192, "fs.inotify.max_user_watches": 262144}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def mail(subject: str) -> bytes:
    return (
        f"From: Customer <customer@example.com>\r\nTo: support@helpdesk.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@customer.example>\r\n"
        f"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nPlease help.\r\n"
    ).encode()


# ------------------------------------------------------------------ machine and servers
def raise_limits() -> dict[str, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    before = {}
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        before[key] = int(path.read_text())
        if before[key] < value:
            subprocess.run(["sysctl", "-qw", f"{key}={value}"], check=False)
    return before


def restore_limits(before: dict[str, int]) -> None:
    for key, value in before.items():
        subprocess.run(["sysctl", "-qw", f"{key}={value}"], check=False)


def imap_user(server: DovecotServer, n: int) -> ImapUser:
    return ImapUser(server, f"user{n}", f"user{n}-pw")


def settings_for(mode: str, tmp: Path, database_url: str) -> Settings:
    return load_settings(
        {
            "MAILSCANNER_DATA_DIR": str(tmp / "data"),
            "DATABASE_URL": database_url,
            "MAILSCANNER_SECRET_KEY": SECRET,
            "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test",
        }
    )


async def make_scanners(
    server: DovecotServer, first: int, count: int, *, active: bool = True
) -> list[Scanner]:
    condition = json.loads(rules_dsl.dumps(rules_dsl.parse("size > 0")))
    scanners = []
    for n in range(first, first + count):
        user = imap_user(server, n)
        scanner = Scanner(
            name=f"bench {user.name}",
            host="127.0.0.1",
            port=server.imaps_port,
            encryption=Encryption.SSL,
            validate_certificate=False,
            scan_type=ScanType.UNREAD,
            username=user.name,
            scan_interval_minutes=60,
            last_scan_at=datetime.now(UTC),
            active=active,
        )
        scanner.set_password(user.password)
        await scanner.save()
        await Rule.create(
            scanner=scanner,
            name="tickets",
            folders=["INBOX"],
            condition=condition,
            actions=[{"type": "create_or_update_ticket"}],
        )
        scanners.append(scanner)
    return scanners


async def wait_for(check: Any, what: str, limit: float) -> float:
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > limit:
            raise SystemExit(f"gave up waiting for {what}")
        await asyncio.sleep(0.25)
    return time.monotonic() - start


async def all_watching(count: int) -> bool:
    idling = await PushStatus.filter(state=PushState.IDLING).count()
    busy = await ScanRun.filter(status__in=[ScanRunStatus.QUEUED, ScanRunStatus.RUNNING]).exists()
    return idling >= count and not busy


# ------------------------------------------------------------------ the appender process
def append_main(plan_file: str) -> None:
    """Child process: APPEND each planned message at its time; print when it was sent."""
    plan = json.loads(Path(plan_file).read_text())
    start = plan["start"]
    out = []
    for item in sorted(plan["items"], key=lambda i: i["at"]):
        time.sleep(max(0.0, start + item["at"] - time.time()))
        client = imapclient.IMAPClient("127.0.0.1", port=plan["port"], ssl=False, timeout=30)
        client.login(item["user"], item["password"])
        sent = time.time()
        client.append("INBOX", mail(item["subject"]))
        out.append({"subject": item["subject"], "sent": sent, "done": time.time()})
        client.logout()
    Path(plan_file + ".out").write_text(json.dumps(out))


def run_appender(server: DovecotServer, users: list[int], window: float, tmp: Path) -> Path:
    count = max(len(users), 20)
    items = []
    for i in range(count):
        n = users[i % len(users)]
        items.append(
            {
                "user": f"user{n}",
                "password": f"user{n}-pw",
                "subject": f"bench {uuid.uuid4().hex[:12]}",
                # several messages per mailbox (N < 20) are spread to stay apart
                "at": random.uniform(0, window) if len(users) >= 20 else i * window / count,
            }
        )
    plan = tmp / f"plan-{uuid.uuid4().hex[:6]}.json"
    plan.write_text(json.dumps({"start": time.time() + 1.0, "port": server.imap_port,
                                "items": items}))
    return plan


# ------------------------------------------------------------------ baselines
async def exists_floor(server: DovecotServer, n: int, samples: int = 5) -> list[float]:
    """APPEND to `* n EXISTS` on a bare idling connection."""
    user = imap_user(server, n)
    client = await IdleClient.connect(
        ImapSettings("127.0.0.1", server.imap_port, "none", username=user.name,
                     password=user.password)
    )
    out = []
    try:
        await client.examine("INBOX")
        for i in range(samples):
            await client.idle()
            sent = time.time()
            await asyncio.to_thread(user.append, "INBOX", [mail(f"floor {i}")])
            while not any(r.kind == "EXISTS" for r in await client.wait(5)):
                pass
            out.append(time.time() - sent)
            await client.done()
            await asyncio.sleep(0.3)
    finally:
        await client.logout()
    return out


async def cheap_vs_full(
    server: DovecotServer, n: int, messages: int, settings: Settings
) -> dict[str, Any]:
    """On an unchanged mailbox of `messages` mails: a watcher's STATUS, the safety-net check,
    a full scan that finds nothing. Wall time and this process's CPU, per operation."""
    from mailscanner.scanning.pipeline import run_scan
    from mailscanner.scanning.signature import unchanged_since_last_scan

    user = imap_user(server, n)
    await asyncio.to_thread(user.append, "INBOX", [mail(f"old {i}") for i in range(messages)])
    scanner = (await make_scanners(server, n, 1))[0]
    await Scanner.filter(id=scanner.id).update(push=False)
    await run_scan(scanner.id, trigger="manual", settings=settings)  # reads them all
    await run_scan(scanner.id, trigger="manual", settings=settings)  # settles the signature
    assert await unchanged_since_last_scan(scanner)
    proc = psutil.Process()

    async def measure(op: Any, repeat: int) -> tuple[float, float]:
        cpu0, t0 = proc.cpu_times(), time.perf_counter()
        for _ in range(repeat):
            await op()
        cpu1 = proc.cpu_times()
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / repeat
        return (time.perf_counter() - t0) / repeat * 1000, cpu * 1000

    client = await IdleClient.connect(
        ImapSettings("127.0.0.1", server.imaps_port, "ssl", False, user.name, user.password)
    )
    try:
        status = await measure(lambda: client.status("INBOX", ["UIDNEXT", "UNSEEN"]), 200)
    finally:
        await client.logout()
    check = await measure(lambda: unchanged_since_last_scan(scanner), 20)
    full = await measure(
        lambda: run_scan(scanner.id, trigger="manual", settings=settings), 10
    )
    return {
        "mailbox_messages": messages,
        "watcher_status_ms": round(status[0], 2),
        "watcher_status_cpu_ms": round(status[1], 2),
        "safety_net_check_ms": round(check[0], 1),
        "safety_net_check_cpu_ms": round(check[1], 1),
        "full_scan_ms": round(full[0], 1),
        "full_scan_cpu_ms": round(full[1], 1),
        "full_scan_over_check": round(full[0] / check[0], 1),
        "full_scan_over_watcher_status": round(full[0] / status[0], 1),
    }


# ------------------------------------------------------------------ one measured round
class Round:
    def __init__(self, mode: str, server: DovecotServer, first_user: int, size: int,
                 window: float, tmp: Path) -> None:
        self.mode, self.server, self.first, self.size = mode, server, first_user, size
        self.window, self.tmp = window, tmp
        self.arrived: dict[str, float] = {}
        self.procs: list[subprocess.Popen[bytes]] = []

    async def subscribe(self, settings: Settings) -> asyncio.Task[None]:
        from mailscanner.resolvers.auth import authenticate, create_token
        from mailscanner.resolvers.context import Context
        from mailscanner.resolvers.schema import schema

        context = Context(settings=settings,
                          principal=await authenticate(await create_token(Role.ADMIN, "bench")))
        stream = await schema.subscribe(SUBSCRIBE, context_value=context)

        async def collect() -> None:
            async for result in stream:  # type: ignore[union-attr]
                data = result.data or {}
                event = data.get("ticketEvents") or {}
                if event.get("kind") == "TICKET_CREATED":
                    self.arrived.setdefault(event["ticket"]["title"], time.time())

        task = asyncio.ensure_future(collect())
        await asyncio.sleep(0.2)
        return task

    def spawn(self, command: str, env: dict[str, str]) -> psutil.Process:
        log = open(self.tmp / f"{command}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "mailscanner", command, "--log-level",
                                 "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return psutil.Process(proc.pid)

    def stop_procs(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    async def measure(self, watcher: psutil.Process) -> dict[str, Any]:
        # the watching side is up with nothing to watch: its baseline; then activate all
        rss_before = watcher.memory_info().rss
        load = os.getloadavg()[0]
        await Scanner.all().update(active=True)
        await events.publish("watch", {"scanner_id": 0})
        ramp = await wait_for(lambda: all_watching(self.size), "all watchers idling", 900)
        rss = watcher.memory_info().rss
        cpu0 = sum(watcher.cpu_times()[:2])
        await asyncio.sleep(20)
        idle_cpu = sum(watcher.cpu_times()[:2]) - cpu0
        runs_before = await ScanRun.all().count()
        # arrivals
        users = list(range(self.first, self.first + self.size))
        plan = run_appender(self.server, users, self.window, self.tmp)
        cpu1 = sum(watcher.cpu_times()[:2])
        appender = subprocess.Popen([sys.executable, __file__, "--append", str(plan)])
        await asyncio.to_thread(appender.wait)
        sent = json.loads(Path(str(plan) + ".out").read_text())

        async def all_arrived() -> bool:
            return all(s["subject"] in self.arrived for s in sent)

        await wait_for(all_arrived, "every ticket event", 300)
        arrivals_cpu = sum(watcher.cpu_times()[:2]) - cpu1
        latencies = [self.arrived[s["subject"]] - s["sent"] for s in sent]
        runs = await ScanRun.all().count() - runs_before
        return {
            "mode": self.mode,
            "mailboxes": self.size,
            "messages": len(sent),
            "window_s": self.window,
            "arrivals_per_s": round(len(sent) / self.window, 1),
            "load_at_start": round(load, 1),
            "ramp_s": round(ramp, 1),
            "p50_ms": round(statistics.median(latencies) * 1000),
            "p95_ms": round(pct(latencies, 0.95) * 1000),
            "max_ms": round(max(latencies) * 1000),
            "scan_runs": runs,
            "watcher_rss_mb": round(rss / 2**20, 1),
            "rss_per_folder_kb": round((rss - rss_before) / self.size / 1024, 1),
            "idle_cpu_ms_per_mailbox_hour": round(idle_cpu / 20 * 3600 / self.size * 1000, 1),
            "arrivals_cpu_ms_per_message": round(arrivals_cpu / len(sent) * 1000, 2),
        }


async def run_embedded(server: DovecotServer, first: int, size: int, window: float,
                       tmp: Path) -> dict[str, Any]:
    from mailscanner.workers.runtime import start_embedded

    settings = settings_for("embedded", tmp, f"sqlite://{tmp / f'embedded-{size}.sqlite3'}")
    await init_db(settings, migrate=True)
    try:
        await make_scanners(server, first, size, active=False)
        r = Round("embedded", server, first, size, window, tmp)
        task = await r.subscribe(settings)
        me = psutil.Process()
        runner = await start_embedded(settings, JobsConfig(prefix="bench:"), watch=True,
                                      watch_config=WatchConfig())
        try:
            await asyncio.sleep(1)
            row = await r.measure(me)
        finally:
            await runner.stop()
            task.cancel()
        row["note"] = "RSS and CPU: the whole server process (watchers, scans, API)"
        return row
    finally:
        await close_db()


async def run_redis(server: DovecotServer, first: int, size: int, window: float,
                    tmp: Path) -> dict[str, Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    from mailscanner.workers.redis_events import RedisBroker

    name = f"bench_push_{os.getpid()}_{size}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = PG_ADMIN.rpartition("/")[0] + "/" + name
    await run_migrations(url)
    settings = settings_for("redis", tmp, url)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    jobs = JobsConfig(prefix=prefix)
    await init_db(settings)
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL), default_queue_name=jobs.queue_name)
    broker = RedisBroker(pool, jobs)
    events.set_broker(broker)
    r = Round("redis", server, first, size, window, tmp)
    try:
        await make_scanners(server, first, size, active=False)
        task = await r.subscribe(settings)
        await broker._start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSCANNER_")}
        env.update({"DATABASE_URL": url, "REDIS_URL": REDIS_URL, "MAILSCANNER_SECRET_KEY": SECRET,
                    "MAILSCANNER_REDIS_PREFIX": prefix, "MAILSCANNER_DATA_DIR": str(tmp / "data"),
                    "MAILSCANNER_MESSAGE_ID_DOMAIN": "helpdesk.test"})
        worker = r.spawn("worker", env)
        watcher = r.spawn("watch", env)
        members = jobs.prefix + "mailscanner:watch:members"
        await wait_for(lambda: pool.exists(members), "the watch process to start", 120)
        await asyncio.sleep(1)
        worker_cpu = sum(worker.cpu_times()[:2])
        row = await r.measure(watcher)
        row["worker_rss_mb"] = round(worker.memory_info().rss / 2**20, 1)
        row["worker_cpu_ms_per_message_incl_ramp"] = round(
            (sum(worker.cpu_times()[:2]) - worker_cpu) / (row["messages"] + size) * 1000, 1
        )
        row["note"] = "RSS and CPU: the `mailscanner watch` process alone"
        task.cancel()
        return row
    finally:
        r.stop_procs()
        events.set_broker(events.InProcessBroker())
        await broker.close()
        keys = [k async for k in pool.scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await pool.delete(*keys)
        await pool.aclose()
        await close_db()
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    before = raise_limits()
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    limit = 2 * max(sizes) + 200
    server = start_dovecot(extra_conf=DOVECOT_CONF.format(limit=limit))
    next_user = 1
    # users for every round, the floor and the cheap check, written before anything starts
    server._pool = (sum(sizes) * len(modes) + 10) // 500 * 500 + 500
    server._write_users()
    await asyncio.sleep(1.2)
    rows: list[dict[str, Any]] = []
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; Dovecot "
          f"process_limit {limit}", flush=True)
    try:
        floor = await exists_floor(server, next_user)
        next_user += 1
        print(json.dumps({"baseline": "APPEND -> EXISTS on a bare idling connection",
                          "p50_ms": round(statistics.median(floor) * 1000),
                          "max_ms": round(max(floor) * 1000)}), flush=True)
        if args.scan_mailbox:
            settings = settings_for("embedded", tmp, f"sqlite://{tmp / 'cheap.sqlite3'}")
            await init_db(settings, migrate=True)
            try:
                row = await cheap_vs_full(server, next_user, args.scan_mailbox, settings)
            finally:
                await close_db()
            next_user += 1
            print(json.dumps({"baseline": "unchanged mailbox", **row}), flush=True)
        for mode in modes:
            for size in sizes:
                runner = run_embedded if mode == "embedded" else run_redis
                row = await runner(server, next_user, size, args.window, tmp)
                next_user += size
                row["polling_1min_expected_ms"] = 30000
                row["p50_over_floor"] = round(row["p50_ms"] / (statistics.median(floor) * 1000), 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        stop_dovecot(server)
        restore_limits(before)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--append":
        append_main(sys.argv[2])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--modes", default="embedded,redis")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--scan-mailbox", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
