"""Engines and sessions: SQLite (embedded default) and PostgreSQL on one schema.

SQLite follows SQLAlchemy's documented pysqlite/aiosqlite recipe ("Serializable isolation /
Savepoints / Transactional DDL"): the driver's own transaction handling is switched off
(`isolation_level = None` on the DBAPI connection) and SQLAlchemy's "begin" event emits our own
BEGIN. Without it the sqlite3 module begins transactions lazily and commits on its own around
some statements, so a SAVEPOINT could commit by itself and a rolled-back savepoint lose work of
the outer transaction: a person's message could be marked handled with no reply (issue 10).
`Database.transaction()` begins with `BEGIN IMMEDIATE`: it takes SQLite's one write lock at once
(awaiting it for up to 10 s: storage.sqlite_inline, the driver every SQLite URL runs on), so a
transaction that reads and then writes never fails half-way with "database is locked" because
another writer committed after its read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dolbom.errors import AppError
from dolbom.settings import get_settings
from storage import sqlite_inline

registry.register("sqlite.inline", "storage.sqlite_inline", "InlineSQLiteDialect")


def is_sqlite(url: str) -> bool:
    """Return True when the URL names an SQLite database."""
    return url.startswith("sqlite")


async def lock_row(session: AsyncSession, model: Any, row_id: int, *, shared: bool = False) -> None:
    """Hold one row (by its `id`) until the transaction ends, so reading then writing is one step.

    PostgreSQL: SELECT ... FOR UPDATE (a second writer waits, then reads the first's work), or
    FOR SHARE when shared (shared holders only keep out an exclusive one).
    SQLite: a no-op UPDATE takes the database's one write lock, with the same effect either way.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(model.id).where(model.id == row_id).with_for_update(read=shared))
    else:
        await session.execute(
            update(model).where(model.id == row_id).values(id=model.id).execution_options(synchronize_session=False)
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets the console read while jobs write.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed in the file, not left in free pages
    # (a purged name or a refused value must not be readable from the file afterwards).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
    # Recipe step 1: the driver must not begin or commit anything on its own.
    dbapi_connection.isolation_level = None


BEGIN_OPTION = "dolbom_sqlite_begin"


def _sqlite_begin(conn: Any) -> None:
    # Recipe step 2: our own BEGIN; IMMEDIATE when the connection was asked to write.
    mode = conn.get_execution_options().get(BEGIN_OPTION, "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _unwrap_app_errors(context: ExceptionContext) -> BaseException | None:
    # A value refused by a column type (storage.types.NoRegistrationNumber) reaches us wrapped
    # in SQLAlchemy's StatementError; callers and the edges handle the AppError itself.
    if isinstance(context.original_exception, AppError):
        return context.original_exception
    return None


def _ping_once(dbapi_connection: Any) -> bool:
    """Check a pooled asyncpg connection in one round trip (pool_pre_ping on every checkout).

    SQLAlchemy's asyncpg ping wraps its `;` in BEGIN … ROLLBACK (for pgbouncer's transaction mode,
    which we do not use): three round trips before every transaction, a fifth of a page's.
    """
    from sqlalchemy.util.concurrency import await_

    try:
        await_(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception as error:
        dbapi_connection._handle_exception(error)  # as a DBAPI error: the pool sees a disconnect
    return True


def make_engine(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """Return an async engine for the URL (default: DOLBOM_DATABASE_URL)."""
    settings = get_settings()
    url = url or settings.database_url
    # SQL errors must never carry names or phone numbers into the logs.
    kwargs.setdefault("hide_parameters", True)
    if make_url(url).database not in (None, "", ":memory:") and "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", settings.database_pool_size)
        kwargs.setdefault("max_overflow", settings.database_max_overflow)
        kwargs.setdefault("pool_timeout", settings.database_pool_timeout)
    if is_sqlite(url):
        # Every SQLite URL runs on the inline driver (storage.sqlite_inline, decision 0020).
        target: str | URL = make_url(url).set(drivername=f"sqlite+{sqlite_inline.InlineSQLiteDialect.driver}")
    else:
        target = url
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(target, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _unwrap_app_errors)
    if engine.dialect.driver == "asyncpg":
        engine.dialect.do_ping = _ping_once  # type: ignore[method-assign]
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
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
        """Yield a session inside one transaction: committed on success, rolled back on error.

        On SQLite the transaction holds the write lock from its first statement (BEGIN IMMEDIATE).
        """
        async with self.sessions() as session, session.begin():
            if self.is_sqlite:
                # The options reach the "begin" event: the connection is procured (and begun) here.
                await session.connection(execution_options={BEGIN_OPTION: "IMMEDIATE"})
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """Yield a session whose every statement commits on its own: no BEGIN and COMMIT round trips.

        For a single read (and at most a single write) per use, such as the session check every
        console request starts with. On SQLite it is `transaction()` (its BEGIN costs no round trip).
        """
        if self.is_sqlite:
            async with self.transaction() as session:
                yield session
            return
        async with self.sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session
            await session.commit()

    @property
    def connections(self) -> int:
        """How many connections the engine's pool may hand out at once (size + overflow)."""
        pool = self.engine.pool
        size = getattr(pool, "size", None)
        if size is None:
            return 1
        return max(1, int(size()) + max(0, int(getattr(pool, "_max_overflow", 0))))

    async def dispose(self) -> None:
        await self.engine.dispose()


class GroupCommit:
    """Many senders' small writes in one transaction: each caller waits for the commit that holds its row.

    While one commit is under way the next callers gather; their rows go in the next one (the
    outbox sender's "sending"/"sent" marks, the SQLite inbox's "answered" marks): a thousand
    one-row transactions become a few dozen.
    """

    def __init__(
        self,
        database: Database,
        apply: Any,
        *,
        slots: asyncio.Semaphore | None = None,
        batch: int = 500,
        one_statement: bool = False,
    ) -> None:
        self.database = database
        self.batch = batch  # rows per transaction at most
        self.apply = apply  # async (session, ids) -> set of ids done (None: all of them)
        self.slots = slots  # held around each transaction (the caller's connection budget), if given
        # apply is one statement, atomic by itself: run it in autocommit (on PostgreSQL no BEGIN
        # and COMMIT round trips, which under load were most of the time a caller waited).
        self.one_statement = one_statement
        self._waiting: list[tuple[int, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, row_id: int) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_id, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if self.slots is not None:
                        await stack.enter_async_context(self.slots)
                    begun = self.database.autocommit() if self.one_statement else self.database.transaction()
                    session = await stack.enter_async_context(begun)
                    done = await self.apply(session, [row_id for row_id, _ in batch])
            except Exception as err:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for row_id, future in batch:
                if not future.done():
                    future.set_result(done is None or row_id in done)
