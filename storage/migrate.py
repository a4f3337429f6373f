"""Run Alembic migrations from code: `dolbom migrate`, `dolbom serve` and the tests use this.

`dolbom serve` migrates only when the database is behind: it compares the head revision of the
migration files (read as text) with the database's `alembic_version` over its own engine, so a
restart of an up-to-date database never loads Alembic or its environment (part of issue 10's
recovery time).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from dolbom.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

    from storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config for the URL (default: DOLBOM_DATABASE_URL)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database to the revision (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def check(url: str | None = None) -> None:
    """Raise when the tables in code differ from the migrated database."""
    from alembic import command

    command.check(alembic_config(url))


async def upgrade_async(url: str | None = None) -> None:
    """Run upgrade() off the event loop: env.py runs its own loop."""
    await asyncio.to_thread(upgrade, url)


def heads() -> set[str]:
    """Return the head revision(s) of the migration files, read as text (no Alembic import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    return revisions - parents


async def current(database: Database) -> set[str]:
    """Return the revision(s) the database is stamped with; empty when it was never migrated."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        async with database.engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return {str(r[0]) for r in rows}
    except DBAPIError:  # no alembic_version table: a new database
        return set()


async def upgrade_if_behind(database: Database) -> bool:
    """Migrate only when the database is not at the head of the migration files; return whether it did."""
    if await current(database) == heads():
        return False
    await upgrade_async(database.url)
    return True
