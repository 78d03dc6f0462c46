"""`mailscanner watch` run as a user runs it: it needs Redis, and says so in one line."""

from __future__ import annotations

import subprocess
import sys

from mailscanner.settings import Settings
from mailscanner.workers.config import JobsConfig

from ..workers.fixtures import worker_env


def run_watch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailscanner", "watch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_redis_url_the_watcher_explains_and_exits_2(settings: Settings) -> None:
    env = worker_env(settings, JobsConfig(prefix="t:"))
    del env["REDIS_URL"]
    result = run_watch(env)
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr and "serve" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_with_redis_unreachable_the_watcher_names_it_without_the_password(
    settings: Settings,
) -> None:
    env = worker_env(settings, JobsConfig(prefix="t:"), REDIS_URL="redis://:s3cret@127.0.0.1:1/0")
    result = run_watch(env)
    assert result.returncode == 2
    assert "cannot reach Redis" in result.stderr and "s3cret" not in result.stderr
