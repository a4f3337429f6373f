"""The pool checks a connection before lending it: one the server closed is replaced, never handed out."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database


async def test_a_connection_the_server_closed_is_replaced_before_a_page_uses_it(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to close a connection")
    # One connection in the pool, the one the server is about to end (a restart, an idle timeout).
    async with db.transaction() as s:
        victim = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    other = await asyncpg.connect(make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", victim)
    finally:
        await other.close()
    for _ in range(3):
        async with db.transaction() as s:
            pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert pid != victim
