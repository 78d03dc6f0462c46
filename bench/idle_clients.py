"""Benchmark: memory and CPU of idle IMAPS connections, our asyncio client against aioimaplib.

Run: ``.venv/bin/pip install aioimaplib && .venv/bin/python bench/idle_clients.py KIND [N]``
with KIND one of own, own-small, aioimaplib, aioimaplib-small (small: asyncio TLS read
buffers lowered by `transport.imap_idle.small_tls_buffers`). A Dovecot of its own, N users
(300 by default), one connection each: EXAMINE INBOX, IDLE; prints RSS per connection (this
process, after the ramp, minus before), CPU per connect+login+IDLE and CPU while idle.
aioimaplib is not a dependency of the project: install it to run the comparison.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import ssl
import sys
from typing import Any

import psutil

from mailscanner.tests.fixtures.dovecot import start_dovecot, stop_dovecot
from mailscanner.transport import imap_idle
from mailscanner.transport.imap import ImapSettings

CONF = """
service imap {
  process_limit = 1000
}
service imap-login {
  service_count = 0
  client_limit = 1000
}
default_client_limit = 1000
"""


async def main(kind: str, n: int) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if kind.endswith("small"):
        imap_idle.small_tls_buffers()
    server = start_dovecot(extra_conf=CONF)
    users = [server.add_user() for _ in range(n + 1)]
    proc = psutil.Process()
    held: list[Any] = []
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

    async def one(user: Any) -> Any:
        if kind.startswith("own"):
            settings = ImapSettings("127.0.0.1", server.imaps_port, "ssl", False, user.name,
                                    user.password)
            client = await imap_idle.IdleClient.connect(settings)
            await client.examine("INBOX")
            await client.idle()
            return client
        import aioimaplib  # not a project dependency: pip install aioimaplib

        client = aioimaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=ctx)
        await client.wait_hello_from_server()
        await client.login(user.name, user.password)
        await client.select("INBOX")
        await client.idle_start(timeout=3600)
        return client

    try:
        held.append(await one(users[0]))  # imports and first-use allocations out of the way
        gc.collect()
        base = proc.memory_info().rss
        cpu0 = sum(proc.cpu_times()[:2])
        for user in users[1:]:
            held.append(await one(user))
            await asyncio.sleep(0.01)  # paced, as watchers connect
        cpu_connect = sum(proc.cpu_times()[:2]) - cpu0
        await asyncio.sleep(2)
        gc.collect()
        rss = proc.memory_info().rss
        cpu1 = sum(proc.cpu_times()[:2])
        await asyncio.sleep(10)
        idle = sum(proc.cpu_times()[:2]) - cpu1
        print(
            f"{kind}: {n} idle TLS connections: {(rss - base) / n / 1024:.1f} KB RSS each; "
            f"connect+login+IDLE {cpu_connect / n * 1000:.2f} ms CPU each; "
            f"idle {idle / 10 * 1000:.2f} ms CPU/s for all"
        )
    finally:
        stop_dovecot(server)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300))
