"""Benchmark: agent comment -> email accepted by the SMTP server, against a bare aiosmtplib send.

Run: ``.venv/bin/python bench/comment_mail.py [--count 200] [--postgres]``

Everything runs in this process on loopback: a local aiosmtpd (STARTTLS + AUTH PLAIN, as a
submission server), the Starlette app driven through httpx2's ASGI transport, and the
in-process job runner (the embedded default: no Redis). Each comment goes through the real
path: GraphQL ``addComment`` (comment + rendered outbox row in one transaction) -> enqueue
``send_outbound`` -> claim the row -> build the message -> SMTP (connect, STARTTLS, AUTH,
send) -> mark SENT. Latency is measured from just before the GraphQL request to the moment
the SMTP server's DATA handler accepts that mail (same process, same monotonic clock).

Series, same run, same server:
  * sequential: one comment at a time (pure latency);
  * burst: all comments posted at once (latency under load; the runner sends 10 at a time);
    the job runner keeps SMTP connections open between sends, as the real runners do;
  * baseline: a bare aiosmtplib send (new connection, STARTTLS, AUTH, one message each) of
    an identical message, sequentially; then our own send_message the same way, and with
    the connection kept open.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailscanner.app import create_app
from mailscanner.db import close_db, init_db, run_migrations
from mailscanner.models import (
    Comment,
    CommentSource,
    Contact,
    Encryption,
    Role,
    SmtpAuth,
    SmtpSettings,
    Ticket,
)
from mailscanner.resolvers.auth import create_token
from mailscanner.settings import Settings, load_settings
from mailscanner.tests.fixtures.smtp import free_port, make_self_signed_cert
from mailscanner.transport.smtp import SmtpConfig, send_message
from mailscanner.transport.smtp_connections import SmtpConnections
from mailscanner.workers.config import JobsConfig
from mailscanner.workers.inprocess import InProcessQueue
from mailscanner.workers.queue import set_queue
from mailscanner.workers.settings import build_functions

ADD_COMMENT = """mutation($t: ID!, $b: String!) { addComment(ticketId: $t, body: $b) {
  __typename ... on CommentPayload { comment { id } } } }"""
_TAG = re.compile(rb"bench-(\w+)-(\d+)")


class Recorder:
    """aiosmtpd handler: the acceptance time of every mail, keyed by the tag in its body."""

    def __init__(self) -> None:
        self.accepted: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.perf_counter()
        m = _TAG.search(envelope.original_content or envelope.content)
        if m:
            with self.lock:
                self.accepted[(m.group(1).decode(), int(m.group(2)))] = now
        return "250 2.0.0 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"bench" and data.password == b"pw"
    return AuthResult(success=ok, handled=False)


def _start_smtp(tmp: Path, recorder: Recorder) -> tuple[Controller, int]:
    import ssl

    cert, key = make_self_signed_cert(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, auth_required=True, auth_require_tls=True,
                            authenticator=_auth, server_hostname="localhost")
    controller.start()
    return controller, port


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def _report(name: str, values: list[float], wall: float) -> None:
    print(f"{name:<11} n={len(values):<4} p50={_pct(values, 50):7.1f} ms  "
          f"p95={_pct(values, 95):7.1f} ms  max={max(values) * 1000:7.1f} ms  "
          f"mean={statistics.mean(values) * 1000:7.1f} ms  wall={wall:6.2f} s "
          f"({len(values) / wall:6.1f} mails/s)")


async def _wait(recorder: Recorder, keys: list[tuple[str, int]], timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while any(k not in recorder.accepted for k in keys):
        if time.perf_counter() > deadline:
            missing = sum(k not in recorder.accepted for k in keys)
            raise SystemExit(f"{missing} mails never arrived")
        await asyncio.sleep(0.002)


async def _settings(tmp: Path, postgres: bool) -> tuple[Settings, str | None]:
    env = {"MAILSCANNER_DATA_DIR": str(tmp / "data"),
           "MAILSCANNER_SECRET_KEY": "bench-secret-0123456789",
           "MAILSCANNER_MESSAGE_ID_DOMAIN": "bench.test"}
    pg_name = None
    if postgres:
        import asyncpg

        pg_name = f"mailscanner_bench_{os.getpid()}"
        conn = await asyncpg.connect("postgres://postgres@127.0.0.1:5432/test")
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
    else:
        env["DATABASE_URL"] = f"sqlite://{tmp / 'bench.sqlite3'}"
    # addComment reads the Message-ID domain from the environment (no settings passed down).
    os.environ.update(env)
    return load_settings(env), pg_name


async def main(count: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="ms-bench-") as tmpdir:
        tmp = Path(tmpdir)
        recorder = Recorder()
        controller, port = _start_smtp(tmp, recorder)
        settings, pg_name = await _settings(tmp, postgres)
        if postgres:
            await run_migrations(settings.database_url)
        await init_db(settings, generate=not postgres)
        try:
            await _run(settings, recorder, port, count)
        finally:
            await close_db()
            controller.stop()
            if pg_name:
                import asyncpg

                conn = await asyncpg.connect("postgres://postgres@127.0.0.1:5432/test")
                await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
                await conn.close()


async def _run(settings: Settings, recorder: Recorder, port: int, count: int) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=port, security=Encryption.STARTTLS,
                        validate_certificate=False, auth=SmtpAuth.PASSWORD, username="bench",
                        sender_address="support@bench.example", sender_name="Bench Support")
    smtp.set_password("pw")
    await smtp.save()
    contact = await Contact.create(name="Eve Example", email="eve@example.com")
    # One ticket per comment, each with a short history (the customer's first mail and one
    # earlier exchange), so the series measure the path rather than an ever-growing ticket.
    tickets: dict[str, list[Ticket]] = {}
    for series, n in (("warm", 5), ("seq", count), ("burst", count)):
        tickets[series] = []
        for i in range(n):
            ticket = await Ticket.create(number=f"TT{await Ticket.all().count() + 1}",
                                         title=f"Benchmark ticket {i}", contact=contact,
                                         source_message_id=f"<first-{series}-{i}@customer.example>")
            await Comment.create(ticket=ticket, body="Earlier reply from the customer.",
                                 source=CommentSource.EMAIL, author_contact=contact,
                                 message_id=f"<r-{series}-{i}@customer.example>")
            tickets[series].append(ticket)
    token = await create_token(Role.AGENT, "bench-agent", "Bench Agent")
    # As the embedded runner and the arq worker do: SMTP connections stay open between sends.
    connections = SmtpConnections()
    queue = InProcessQueue(build_functions(JobsConfig()), {"smtp_connections": connections})
    set_queue(queue)
    app = create_app(settings, start_services=False)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                      base_url="http://bench") as client:
            async def post(series: str, i: int) -> float:
                started = time.perf_counter()
                r = await client.post("/graphql", headers=headers, json={
                    "query": ADD_COMMENT,
                    "variables": {"t": str(tickets[series][i].id),
                                  "b": f"Reply bench-{series}-{i} text"}})
                assert r.json()["data"]["addComment"]["__typename"] == "CommentPayload", r.text
                return started

            for i in range(5):  # warm-up: imports, first TLS handshake, caches
                await post("warm", i)
            await queue.join()

            t0 = time.perf_counter()
            seq: list[float] = []
            for i in range(count):
                started = await post("seq", i)
                await _wait(recorder, [("seq", i)])
                seq.append(recorder.accepted[("seq", i)] - started)
            _report("sequential", seq, time.perf_counter() - t0)

            t0 = time.perf_counter()
            starts = await asyncio.gather(*(post("burst", i) for i in range(count)))
            print(f"burst: all {count} addComment calls returned after "
                  f"{time.perf_counter() - t0:.2f} s")
            await _wait(recorder, [("burst", i) for i in range(count)])
            burst = [recorder.accepted[("burst", i)] - s for i, s in enumerate(starts)]
            _report("burst", burst, time.perf_counter() - t0)
            await queue.join()
    finally:
        set_queue(None)
        await queue.close()
        await connections.close()
    print(f"SMTP connections opened by the job runner: {connections.opened}")
    await _baseline(recorder, port, count)


async def _baseline(recorder: Recorder, port: int, count: int) -> None:
    """Bare aiosmtplib: the same kind of message through the same server, nothing else."""
    from mailscanner.outbound.compose import build_message

    config = SmtpConfig(host="127.0.0.1", port=port, security=Encryption.STARTTLS,
                        validate_certificate=False, auth=SmtpAuth.PASSWORD, username="bench",
                        password="pw", sender_address="support@bench.example")
    values: list[float] = []
    t0 = time.perf_counter()
    for i in range(count):
        msg = build_message(
            sender_address="support@bench.example", sender_name="Bench Support",
            recipients=["Eve Example <eve@example.com>"], subject="[TT1] Benchmark ticket",
            text_body=f"Reply bench-base-{i} text\n", html_body=f"<p>Reply bench-base-{i}</p>",
            message_id=f"<TT1.b{i}.x@bench.test>", in_reply_to=None, references=[])
        started = time.perf_counter()
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, start_tls=True,
                              validate_certs=False, username="bench", password="pw", timeout=10)
        values.append(recorder.accepted[("base", i)] - started)
    _report("bare-smtp", values, time.perf_counter() - t0)
    # Our own client path without the outbox, for reference: a new connection per mail
    # (connect/STARTTLS/AUTH/send/QUIT), then one kept open between sends (as the runners do).
    await _ours(recorder, config, count, "ours", "o", None, "transport.smtp")
    connections = SmtpConnections()
    await _ours(recorder, config, count, "kept", "k", connections, "transport.smtp kept open")
    await connections.close()


async def _ours(recorder: Recorder, config: SmtpConfig, count: int, tag: str, mid: str,
                connections: SmtpConnections | None, label: str) -> None:
    from mailscanner.outbound.compose import build_message

    values: list[float] = []
    t0 = time.perf_counter()
    for i in range(count):
        msg = build_message(
            sender_address="support@bench.example", sender_name="Bench Support",
            recipients=["Eve Example <eve@example.com>"], subject="[TT1] Benchmark ticket",
            text_body=f"Reply bench-{tag}-{i} text\n", html_body="",
            message_id=f"<TT1.{mid}{i}.x@bench.test>",
            in_reply_to=None, references=[])
        started = time.perf_counter()
        await send_message(config, msg, connections=connections)
        values.append(recorder.accepted[(tag, i)] - started)
    _report(label, values, time.perf_counter() - t0)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--postgres", action="store_true",
                        help="use the machine's PostgreSQL (a temporary database), not SQLite")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.postgres))
