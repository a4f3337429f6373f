"""Engines and sessions: SQLite (embedded default) and PostgreSQL on one schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dolbom.errors import AppError
from dolbom.settings import get_settings


def is_sqlite(url: str) -> bool:
    """Return True when the URL names an SQLite database."""
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets the console read while jobs write.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed in the file, not left in free pages
    # (a purged name or a refused value must not be readable from the file afterwards).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _unwrap_app_errors(context: ExceptionContext) -> BaseException | None:
    # A value refused by a column type (storage.types.NoRegistrationNumber) reaches us wrapped
    # in SQLAlchemy's StatementError; callers and the edges handle the AppError itself.
    if isinstance(context.original_exception, AppError):
        return context.original_exception
    return None


def make_engine(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """Return an async engine for the URL (default: DOLBOM_DATABASE_URL)."""
    url = url or get_settings().database_url
    # SQL errors must never carry names or phone numbers into the logs.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"timeout": 15})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _unwrap_app_errors)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory every layer uses: no expiry on commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """One engine and its session factory; the process holds one of these."""

    def __init__(self, url: str | None = None, **engine_kwargs: Any) -> None:
        self.url = url or get_settings().database_url
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = make_sessionmaker(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
