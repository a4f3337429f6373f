"""Every test gets its own database: a fresh SQLite file, or PostgreSQL emptied before it.

The first CI pass runs on SQLite; the second sets DOLBOM_TEST_DATABASE_URL to
PostgreSQL and runs the same tests there. In CI an unreachable PostgreSQL fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from dolbom import clock
from dolbom.settings import get_settings
from storage import models
from storage.db import Database, is_sqlite

_pg_schema_ready: set[str] = set()
# Under pytest-xdist each worker gets its own PostgreSQL database (test_gw0, test_gw1, ...),
# created at configure time, so workers never truncate each other's tables.
_worker: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _worker
    workerinput = getattr(config, "workerinput", None)
    _worker = workerinput["workerid"] if workerinput else None
    base = _base_pg_url()
    if base and _worker:
        asyncio.run(_create_database(base, str(make_url(pg_url())).rsplit("/", 1)[1]))


def _base_pg_url() -> str | None:
    url = get_settings().test_database_url
    return url if url and not is_sqlite(url) else None


async def _create_database(base: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(str(make_url(base).set(drivername="postgresql")))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def pg_url() -> str | None:
    """Return this worker's PostgreSQL test URL, or None when this run is on SQLite."""
    base = _base_pg_url()
    if base is None or _worker is None:
        return base
    url = make_url(base)
    return url.set(database=f"{url.database}_{_worker}").render_as_string(hide_password=False)


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
                # A throwaway database: commits need not wait for the disk (thousands of tiny
                # transactions otherwise spend most of the run in fsync). New connections,
                # including those of the processes the e2e tests start, take the setting.
                name = make_url(url).database
                await conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
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
