from __future__ import annotations

import asyncio

from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from mailscanner.db import tortoise_config

MAKE = "tortoise -c mailscanner.db.TORTOISE_ORM makemigrations"


def test_the_migrations_describe_the_models_exactly() -> None:
    async def pending() -> list[str]:
        config = tortoise_config("sqlite://:memory:")
        async with tortoise_cli_context(config) as ctx:
            assert ctx.apps is not None
            writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        return [f"{w.app_label}.{w.name}" for w in writers]

    assert asyncio.run(pending()) == [], f"models changed without a migration; run: {MAKE}"
