"""Alembic environment: async engines, batch mode on SQLite, the tables of storage.models."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON, String
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from storage import models
from storage.db import is_sqlite, make_engine
from storage.types import NoRegistrationNumber, UTCDateTime

config = context.config
target_metadata = models.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Render our column types by their import path, and SQLModel's AutoString as a plain
    # String, so the migration files depend on nothing but sqlalchemy and storage.types.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import storage.types")
        return "storage.types.UTCDateTime()"
    if type_ == "type" and isinstance(obj, NoRegistrationNumber):
        # The guard is Python-side only (decision 0008): the column is its inner type.
        obj = obj.inner
        if isinstance(obj, JSON):
            return "sa.JSON()"
        if isinstance(obj, String):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    return False


# Indexes the migrations make on PostgreSQL only, which the models do not declare.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_residents_name_trgm"})


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and reflected and name in POSTGRESQL_ONLY_INDEXES)


def _configure(connection: Connection | None = None, **kw: Any) -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(url),
        compare_type=True,
        render_item=_render_item,
        include_object=_include_object,
        **kw,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    given = config.attributes.get("connection")
    if given is not None:
        await given.run_sync(_run_sync)
        return
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
