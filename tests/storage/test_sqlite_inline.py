"""SQLite's write lock is awaited, not slept on: a waiting writer never holds up the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import sqlite_inline
from storage.db import Database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield database  # type: ignore[misc]
    await database.dispose()


async def test_every_sqlite_url_runs_on_the_inline_driver(sqlite_db: Database) -> None:
    assert sqlite_db.engine.dialect.driver == "inline"
    async with sqlite_db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_inline.Connection)


async def test_a_writer_waiting_for_the_lock_lets_the_holder_finish_in_the_same_loop(sqlite_db: Database) -> None:
    # The holder needs the event loop to reach its commit while the second writer waits: with
    # SQLite's own busy timeout (a sleep in C) the loop would stop and both would wait 10 s.
    holding = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('first')"))
            holding.set()
            await release.wait()
            order.append("first commits")

    async def waiter() -> None:
        await holding.wait()
        async with sqlite_db.transaction() as session:  # BEGIN IMMEDIATE: the lock is held
            order.append("second has the lock")
            await session.execute(text("INSERT INTO notes (body) VALUES ('second')"))

    async def ticker() -> None:
        await holding.wait()
        for _ in range(5):  # the loop keeps running while the second writer waits
            await asyncio.sleep(0.01)
        order.append("loop ran")
        release.set()

    await asyncio.wait_for(asyncio.gather(holder(), waiter(), ticker()), timeout=5)
    assert order == ["loop ran", "first commits", "second has the lock"]
    async with sqlite_db.sessions() as session:
        bodies = (await session.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all()
    assert bodies == ["first", "second"]


async def test_a_lock_never_released_fails_after_the_wait_with_the_usual_error(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_WAIT_SECONDS", 0.2)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    with pytest.raises(Exception, match="database is locked") as caught:
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('never')"))
    assert isinstance(caught.value.__cause__ or caught.value.orig, sqlite3.OperationalError)  # type: ignore[attr-defined]
    release.set()
    await task
    async with sqlite_db.sessions() as session:
        bodies = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["kept"]
