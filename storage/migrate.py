"""Run Alembic migrations from code: `dolbom migrate`, `dolbom serve` and the tests use this."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from dolbom.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config for the URL (default: DOLBOM_DATABASE_URL)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database to the revision (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def check(url: str | None = None) -> None:
    """Raise when the tables in code differ from the migrated database."""
    command.check(alembic_config(url))


async def upgrade_async(url: str | None = None) -> None:
    """Run upgrade() off the event loop: env.py runs its own loop."""
    await asyncio.to_thread(upgrade, url)
