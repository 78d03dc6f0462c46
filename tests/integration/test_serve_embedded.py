"""The newcomer's path: `mailscanner serve` with no configuration at all, then GraphiQL in a
real browser with no internet (every non-loopback request is refused and recorded)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    token: str
    output: list[str]
    data_dir: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "MAILSCANNER_SECRET_KEY"}
    }
    env["MAILSCANNER_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "mailscanner", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        token = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.strip().startswith("mst_"):
                token = line.strip()
            if "Uvicorn running" in line:  # logged once the socket listens
                break
        assert token, "\n".join(lines)
        yield Served(
            url=f"http://127.0.0.1:{port}", token=token, output=lines, data_dir=tmp_path / "data"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()


def test_first_start_prints_an_admin_token_once_and_uses_sqlite(served: Served) -> None:
    assert any("/graphql" in line for line in served.output)
    assert (served.data_dir / "mailscanner.sqlite3").exists()
    key = served.data_dir / "secret_key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert served.data_dir.stat().st_mode & 0o777 == 0o700
    assert (served.data_dir / "mailscanner.sqlite3").stat().st_mode & 0o777 == 0o600
    request = urllib.request.Request(
        served.url + "/graphql", data=json.dumps({"query": "{ me { name role } }"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {served.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"data": {"me": {"name": "Administrator", "role": "ADMIN"}}}
    with urllib.request.urlopen(served.url + "/healthz", timeout=10) as response:
        assert response.status == 200


def test_graphiql_runs_a_query_with_the_token_and_no_internet(served: Served) -> None:
    """...under its Content-Security-Policy (no violation reported), and without keeping the
    token in the browser: not in localStorage/sessionStorage, not in the address bar."""
    from playwright.sync_api import sync_playwright

    query = "{ me { name role } }"
    params = urllib.parse.urlencode(
        {"q": query, "headers": json.dumps({"Authorization": f"Bearer {served.token}"})},
        quote_via=urllib.parse.quote,
    )  # the page decodes %20, not +
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def guard(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if urllib.parse.urlsplit(url).hostname in {"127.0.0.1", "localhost"}:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", guard)
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            response = page.goto(f"{served.url}/graphql?{params}")
            assert response is not None
            policy = response.headers["content-security-policy"]
            page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "() => (document.querySelector('.result-window')?.innerText || '')"
                ".includes('ADMIN')",
                timeout=30_000,
            )
            result = page.inner_text(".result-window")
            stored = page.evaluate(
                "() => JSON.stringify([Object.entries(localStorage),"
                " Object.entries(sessionStorage)])")
            address = page.url
            page.reload()  # what a later visit would find
            page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
            headers_after_reload = page.evaluate(
                "() => JSON.stringify(Object.entries(localStorage))")
        finally:
            browser.close()
    assert '"name": "Administrator"' in result
    assert outside == []
    assert "frame-ancestors 'none'" in policy
    assert not [m for m in console if "Content Security Policy" in m], console
    assert served.token not in stored and served.token not in headers_after_reload
    assert served.token not in address and "headers=" not in address
