"""schema.graphql is committed so every API change shows up in review (as Saleor does)."""
from __future__ import annotations

from pathlib import Path

from mailscanner.resolvers.schema import schema_sdl

SNAPSHOT = Path(__file__).resolve().parents[1] / "schema.graphql"
UPDATE = "scripts/export-schema"


def test_the_committed_schema_matches_the_live_schema() -> None:
    live = schema_sdl()
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    assert committed == live, f"schema.graphql is out of date; run: {UPDATE}"
