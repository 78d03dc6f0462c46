"""Where the metrics are served: on the API (default), on a port of their own, or nowhere."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx2

from mailscanner.app import create_app
from mailscanner.ops.serving import PortServer
from mailscanner.settings import Settings

from ..fixtures.smtp import free_port


async def _get(settings: Settings, path: str) -> httpx2.Response:
    app = create_app(settings, start_services=False)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app),
                                  base_url="http://testserver") as client:
        return await client.get(path)


async def test_the_api_serves_metrics_without_a_token_unless_told_otherwise(
        settings: Settings) -> None:
    served = await _get(settings, "/metrics")
    assert served.status_code == 200 and "mailscanner_scan_runs_total" in served.text
    for elsewhere in ("off", "9464"):
        response = await _get(replace(settings, metrics=elsewhere), "/metrics")
        assert response.status_code == 404


async def test_a_process_without_an_http_api_serves_metrics_on_its_own_port() -> None:
    server = PortServer(free_port(), "127.0.0.1")
    server.start()
    try:
        response = await asyncio.to_thread(
            httpx2.get, f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    finally:
        server.stop()
    assert response.status_code == 200
    assert "mailscanner_shutting_down 0.0" in response.text
