"""Fixtures the process tests share: a database `dolbom serve` finds ready (nothing to migrate)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from alembic import command
from sqlalchemy import text

from storage import migrate
from storage.db import Database, is_sqlite
from tests import factories
from tests.conftest import prepare


@asynccontextmanager
async def _ready_for_serve(db_url: str) -> AsyncIterator[Database]:
    await prepare(db_url)
    await asyncio.to_thread(command.stamp, migrate.alembic_config(db_url), "head")
    database = Database(db_url)
    async with database.transaction() as session:
        await factories.make_district(session)
    try:
        yield database
    finally:
        await database.dispose()
        # The next test's schema comes from create_all again: no stamp may be left behind.
        cleanup = Database(db_url)
        async with cleanup.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await cleanup.dispose()


@pytest.fixture
async def serve_db(db_url: str) -> AsyncIterator[Database]:
    """An empty schema (create_all) stamped at head, with one district, so `serve` migrates nothing."""
    async with _ready_for_serve(db_url) as database:
        yield database


@pytest.fixture
async def pg_serve_db(db_url: str) -> AsyncIterator[Database]:
    """`serve_db` on PostgreSQL only; skipped on the SQLite pass, where one bot process is all there is."""
    if is_sqlite(db_url):
        pytest.skip("PostgreSQL pass only (set DOLBOM_TEST_DATABASE_URL): SQLite has one bot process")
    async with _ready_for_serve(db_url) as database:
        yield database
