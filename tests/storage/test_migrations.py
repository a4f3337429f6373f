"""Migrations run from empty to head on SQLite and PostgreSQL, and match the tables in code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import migrate, models
from storage.db import Database
from tests.conftest import forget_pg_schema, pg_url


async def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await database.dispose()


def _empty_postgres(url: str) -> None:
    async def run() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await database.dispose()

    asyncio.run(run())
    forget_pg_schema()


def _check_empty_to_head(url: str) -> None:
    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent: a second run changes nothing
    migrate.check(url)  # alembic check: no drift between code and migrations
    tables = asyncio.run(_tables(url))
    assert set(models.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_sqlite_empty_to_head_without_drift(tmp_path: Path) -> None:
    _check_empty_to_head(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


def test_postgresql_empty_to_head_without_drift() -> None:
    url = pg_url()
    if url is None:
        pytest.skip("PostgreSQL pass only (set DOLBOM_TEST_DATABASE_URL); CI runs it")
    _empty_postgres(url)
    try:
        _check_empty_to_head(url)
    finally:
        _empty_postgres(url)
