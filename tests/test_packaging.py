"""What `pip install .` ships: every subpackage of the repository, the data folders, and no
build warnings (a newcomer's first install should print none of ours)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "bench", "scripts", ".venv", ".git", "build"}


def _config() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _code_packages() -> set[str]:
    found = {"mailscanner"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and rel.parts[0] not in NOT_SHIPPED:
            found.add(".".join(("mailscanner", *rel.parts)))
    return found


def test_every_subpackage_is_listed_for_setuptools() -> None:
    listed = set(_config()["tool"]["setuptools"]["packages"])  # type: ignore[index]
    missing = _code_packages() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_the_command_line_extra_of_strawberry_is_not_a_runtime_dependency() -> None:
    # It pulls typer, libcst and pydantic into every install; scripts/export-schema uses the API.
    deps = _config()["project"]["dependencies"]  # type: ignore[index]
    assert not [d for d in deps if d.startswith("strawberry-graphql[")]


@pytest.mark.integration
def test_the_wheel_builds_without_warnings_and_holds_code_and_data(tmp_path: Path) -> None:
    # given the repository as a newcomer clones it (copied: setuptools builds in the tree)
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".mypy_cache"))
    # when pip builds the wheel
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    # then it succeeds without setuptools' deprecation or "package would be ignored" warnings
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Warning" not in output and "deprecated" not in output, output[-3000:]
    wheel = next(tmp_path.glob("mailscanner-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _code_packages():
        assert "/".join(package.split(".")) + "/__init__.py" in names, package
    assert "mailscanner/static/graphiql/graphiql.min.js" in names
    assert "mailscanner/schema.graphql" in names
    assert not [n for n in names if n.startswith(("mailscanner/tests/", "mailscanner/bench/"))]
