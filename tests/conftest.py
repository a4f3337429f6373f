"""Every test gets its own database: a fresh SQLite file, or PostgreSQL emptied before it.

The first CI pass runs on SQLite; the second sets DOLBOM_TEST_DATABASE_URL to
PostgreSQL and runs the same tests there. In CI an unreachable PostgreSQL fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dolbom import clock
from dolbom.settings import get_settings
from storage import models
from storage.db import Database, is_sqlite

_pg_schema_ready: set[str] = set()


def pg_url() -> str | None:
    """Return the PostgreSQL test URL, or None when this run is on SQLite."""
    url = get_settings().test_database_url
    return url if url and not is_sqlite(url) else None


def forget_pg_schema() -> None:
    """Make the next `db` fixture rebuild the PostgreSQL schema (after a test dropped it)."""
    _pg_schema_ready.clear()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The URL of this test's own database."""
    return pg_url() or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


async def prepare(url: str) -> None:
    """Give the URL an empty schema at head, quickly (create_all; migrations are tested apart)."""
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            if is_sqlite(url):
                await conn.run_sync(models.metadata.create_all)
            elif url not in _pg_schema_ready:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
                await conn.run_sync(models.metadata.create_all)
                _pg_schema_ready.add(url)
            else:
                names = ", ".join(f'"{t.name}"' for t in models.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))
    finally:
        await database.dispose()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A Database on an empty schema for this test alone."""
    await prepare(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; commit explicitly where it matters."""
    async with db.sessions() as s:
        yield s


@pytest.fixture(autouse=True)
def _unfrozen_clock() -> Iterator[None]:
    yield
    clock.set_now(None)
