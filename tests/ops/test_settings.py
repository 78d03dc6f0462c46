"""The operations settings: bad values stop the command with a line naming the variable."""
from __future__ import annotations

from pathlib import Path

import pytest

from mailscanner.settings import ConfigError, load_settings


def _load(tmp_path: Path, **env: str) -> object:
    return load_settings({"MAILSCANNER_DATA_DIR": str(tmp_path), **env})


def test_defaults_and_accepted_values(tmp_path: Path) -> None:
    settings = load_settings({"MAILSCANNER_DATA_DIR": str(tmp_path)})
    assert (settings.metrics, settings.log_format, settings.shutdown_seconds) == ("api", None, 30)
    settings = load_settings({"MAILSCANNER_DATA_DIR": str(tmp_path), "MAILSCANNER_METRICS": "9100",
                              "MAILSCANNER_LOG_FORMAT": "JSON",
                              "MAILSCANNER_SHUTDOWN_SECONDS": "5"})
    assert (settings.metrics, settings.log_format, settings.shutdown_seconds) == ("9100", "json", 5)


@pytest.mark.parametrize(("name", "value"), [
    ("MAILSCANNER_METRICS", "on"), ("MAILSCANNER_METRICS", "70000"),
    ("MAILSCANNER_LOG_FORMAT", "xml"), ("MAILSCANNER_SHUTDOWN_SECONDS", "0"),
    ("MAILSCANNER_SHUTDOWN_SECONDS", "soon"),
])
def test_a_bad_value_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        _load(tmp_path, **{name: value})
