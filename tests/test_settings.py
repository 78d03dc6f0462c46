"""The embedded default keeps its data private: the data dir 0700, every file in it 0600."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailscanner.db import close_db, init_db
from mailscanner.models import Ticket
from mailscanner.settings import ConfigError, load_settings


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most shells have: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_dir_and_everything_sqlite_writes_in_it_are_private(
        tmp_path: Path, permissive_umask: None) -> None:
    # given: no configuration but the data dir
    data = tmp_path / "fresh" / "data"
    settings = load_settings({"MAILSCANNER_DATA_DIR": str(data)})
    # when: the embedded database is created and written to
    await init_db(settings, migrate=True)
    try:
        await Ticket.create(number="TT1", title="private")
        modes = {p.name: _mode(p) for p in data.iterdir()}  # while -wal and -shm exist
    finally:
        await close_db()
    # then
    assert _mode(data) == 0o700
    assert {"mailscanner.sqlite3", "secret_key"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)


def test_request_bounds_come_from_the_environment(tmp_path: Path) -> None:
    base = {"MAILSCANNER_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (defaults.max_request_bytes, defaults.request_timeout) == (1024 * 1024, 30.0)
    tuned = load_settings({**base, "MAILSCANNER_MAX_REQUEST_BYTES": "5000000",
                           "MAILSCANNER_REQUEST_TIMEOUT": "10"})
    assert (tuned.max_request_bytes, tuned.request_timeout) == (5_000_000, 10.0)
    with pytest.raises(ConfigError, match="MAILSCANNER_MAX_REQUEST_BYTES: must be"):
        load_settings({**base, "MAILSCANNER_MAX_REQUEST_BYTES": "1MB"})


@pytest.mark.parametrize("name", ["MAILSCANNER_MESSAGE_BUDGET_SECONDS",
                                  "MAILSCANNER_RESOLVER_BUDGET_SECONDS"])
def test_cpu_budgets_come_from_the_environment_and_bad_ones_name_the_variable(
        tmp_path: Path, name: str) -> None:
    base = {"MAILSCANNER_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (defaults.message_budget_seconds, defaults.resolver_budget_seconds) == (10.0, 10.0)
    field = name.removeprefix("MAILSCANNER_").lower()
    assert getattr(load_settings({**base, name: "2.5"}), field) == 2.5
    for bad in ("0", "-1", "nan", "inf", "ten"):
        with pytest.raises(ConfigError, match=f"{name}: must be a number of seconds"):
            load_settings({**base, name: bad})


def test_the_attachment_limit_and_folder_come_from_the_environment(tmp_path: Path) -> None:
    base = {"MAILSCANNER_DATA_DIR": str(tmp_path / "data")}
    defaults = load_settings(base)
    assert defaults.max_attachment_bytes == 25 * 1024 * 1024
    assert defaults.blob_dir == tmp_path / "data" / "attachments"
    tuned = load_settings({**base, "MAILSCANNER_MAX_ATTACHMENT_BYTES": "1048576",
                           "MAILSCANNER_ATTACHMENTS_DIR": str(tmp_path / "shared")})
    assert (tuned.max_attachment_bytes, tuned.blob_dir) == (1048576, tmp_path / "shared")
    with pytest.raises(ConfigError, match="MAILSCANNER_MAX_ATTACHMENT_BYTES: must be"):
        load_settings({**base, "MAILSCANNER_MAX_ATTACHMENT_BYTES": "25MB"})
