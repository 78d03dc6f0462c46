"""The TLS client contexts of every outgoing connection (IMAP, IDLE, SMTP).

Made once and shared: `ssl.create_default_context()` reads the whole system trust store,
which cost more CPU than the rest of a one-message scan together (bench/push_latency.py,
py-spy). An SSLContext is safe to share between threads; each connection still gets its
own SSL object. The key includes the trust-store variables the default context reads when
it is made (SSL_CERT_FILE, SSL_CERT_DIR), so changing them takes effect.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

__all__ = ["client_context"]


def client_context(validate: bool, cafile: str | None = None) -> ssl.SSLContext:
    """A context that checks the server's certificate and name (`validate`), trusting the
    system store plus `cafile`; or one that checks nothing (self-signed, trusted network)."""
    env = os.environ
    return _cached(validate, cafile if validate else None, env.get("SSL_CERT_FILE"),
                   env.get("SSL_CERT_DIR"))


@lru_cache(maxsize=16)
def _cached(validate: bool, cafile: str | None, env_file: str | None,
            env_dir: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not validate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cafile:
        ctx.load_verify_locations(cafile=cafile)
    return ctx
