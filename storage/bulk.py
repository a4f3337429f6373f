"""Bulk loading for large fixtures (`dolbom demo --scale`, the benchmarks): rows straight into tables.

PostgreSQL gets COPY through the raw asyncpg connection; SQLite gets multi-row INSERTs through
SQLAlchemy Core (its types still turn aware datetimes into SQLite's naive UTC text). Nothing here
goes through the ORM or the services: the caller provides complete rows with their ids, and
`reset_sequences` moves PostgreSQL's id sequences past them afterwards.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import JSON, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import metadata

CHUNK = 20_000

# PostgreSQL only: the trigram index that serves the desk's name search (`name LIKE '%…%'`),
# Hangul included. Written by the lead's migration too; kept here so a bulk-loaded database has it.
TRGM_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_residents_name_trgm ON residents USING gin (name gin_trgm_ops)",
)


def is_postgres(conn: AsyncConnection) -> bool:
    """Return True when the connection is to PostgreSQL."""
    return conn.dialect.name == "postgresql"


async def copy_rows(conn: AsyncConnection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write rows (values in `columns` order) into the table; return how many."""
    tbl = metadata.tables[table]
    json_at = [i for i, c in enumerate(columns) if _is_json(tbl.c[c].type)]
    if is_postgres(conn):
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if json_at:
            rows = (_json_encoded(r, json_at) for r in rows)
        batch = list(rows) if not isinstance(rows, list) else rows
        await driver.copy_records_to_table(table, records=batch, columns=list(columns))
        return len(batch)
    n = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(dict(zip(columns, row, strict=True)))
        if len(chunk) >= CHUNK:
            await conn.execute(insert(tbl), chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        await conn.execute(insert(tbl), chunk)
        n += len(chunk)
    return n


@asynccontextmanager
async def deferred_indexes(conn: AsyncConnection, tables: Sequence[str]) -> AsyncIterator[None]:
    """Drop the tables' secondary indexes and foreign keys for the load, then build them again in one pass.

    PostgreSQL only (SQLite loads are small): building an index once over a million rows is many times
    faster than keeping ten of them up to date row by row, and re-adding a foreign key checks every row
    in one join. Primary keys and unique constraints stay (they guard the load itself).
    """
    if not is_postgres(conn):
        yield
        return
    names = list(tables)
    indexes = (
        await conn.execute(
            text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " JOIN pg_class t ON t.oid = i.indrelid"
                " WHERE t.relname = ANY(:t) AND NOT i.indisprimary AND NOT i.indisunique"
                " AND t.relnamespace = 'public'::regnamespace"
            ),
            {"t": names},
        )
    ).all()
    foreign = (
        await conn.execute(
            text(
                "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
                " JOIN pg_class t ON t.oid = c.conrelid"
                " WHERE c.contype = 'f' AND t.relname = ANY(:t) AND t.relnamespace = 'public'::regnamespace"
            ),
            {"t": names},
        )
    ).all()
    for table, name, _ in foreign:
        await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        await conn.execute(text(f"DROP INDEX {name}"))
    yield
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, ddl in indexes:
        await conn.execute(text(ddl))
    for table, name, definition in foreign:
        await conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _is_json(kind: Any) -> bool:
    return isinstance(kind, JSON) or isinstance(getattr(kind, "impl_instance", None), JSON)


def _json_encoded(row: Sequence[Any], at: list[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in at:
        value = out[i]
        if value is not None:
            out[i] = "{}" if value == {} else json.dumps(value, ensure_ascii=False)
    return tuple(out)


async def reset_sequences(conn: AsyncConnection, tables: Iterable[str]) -> None:
    """Move each table's id sequence past its highest id (PostgreSQL; SQLite needs nothing)."""
    if not is_postgres(conn):
        return
    for table in tables:
        await conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))")
        )


async def search_indexes(conn: AsyncConnection) -> None:
    """Create the name search's trigram index (PostgreSQL only; needs the pg_trgm extension)."""
    if is_postgres(conn):
        for ddl in TRGM_DDL:
            await conn.execute(text(ddl))


async def analyze(conn: AsyncConnection) -> None:
    """Refresh the planner's statistics and PostgreSQL's visibility map (index-only scans) after a load."""
    if is_postgres(conn):
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    else:
        await conn.execute(text("ANALYZE"))
