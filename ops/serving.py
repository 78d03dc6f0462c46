"""Serving the metrics: `GET /metrics` on the API, or a port of the process's own.

`MAILSCANNER_METRICS=api` (default): the API answers `/metrics` (no token: the figures hold
no secrets and no mail, only counts per scanner id). `off`: no metrics are served. A port
number: the API serves them on that port instead (a listener Prometheus reaches and users do
not). `mailscanner worker` and `mailscanner watch` serve theirs with `--metrics-port`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server

from . import collectors  # noqa: F401 — registers the queue depth gauges
from .metrics import REGISTRY

logger = logging.getLogger(__name__)


async def render() -> tuple[bytes, str]:
    """The exposition text and its content type; rendered in a thread, because the queue
    depth collector waits for a sample from this event loop."""
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return body, CONTENT_TYPE_LATEST


class PortServer:
    """Prometheus' own HTTP server in a thread, for processes without an HTTP API."""

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        self.port, self.host = port, host
        self._server: Any = None

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, self.host, registry=REGISTRY)
        logger.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
