"""SQLite driven in the event loop's own thread, with SQLite's write lock awaited rather than slept on.

aiosqlite runs every call on a thread of its own: opening a cursor, executing, fetching and
closing are four hand-overs per statement, each a wake-up of that thread and of the event loop
and a contest for the GIL. Measured on this project's 2-core machine (load ~6): a two-statement
transaction took 3.7 ms through SQLAlchemy + aiosqlite against 0.06 ms for the same statements on
a plain sqlite3 connection, and an update of the bot (about ten statements) spent most of its
time in those hand-overs (docs/decisions/0020-sqlite-inline.md).

Here the sqlite3 module is called directly from SQLAlchemy's greenlet, in the loop's thread: a
statement on a local file costs what SQLite costs. The one wait that is not short is another
connection's write lock. SQLite's own busy handler would sleep in C and hold the whole event
loop (and with it the very transaction it waits for, when both are in this process), so the
busy timeout is 0 and a "database is locked" is awaited here instead: `asyncio.sleep`, backing
off from 1 ms to 50 ms, for at most BUSY_WAIT_SECONDS (the 10 s busy_timeout this replaces),
then the error is raised as before. A BUSY that waiting cannot cure (SQLITE_BUSY_SNAPSHOT: a
read transaction whose snapshot is stale cannot become a writer) is raised at once, as SQLite
itself does. `Database` uses this driver for every SQLite URL (`sqlite+aiosqlite://` in
settings stays the documented spelling).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_, in_greenlet

BUSY_WAIT_SECONDS = 10.0
_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05
_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 517


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # an sqlite3 without error codes: its message is all there is
        return "database is locked" in str(error)
    return code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


def _wait(seconds: float) -> None:
    if in_greenlet():
        await_(asyncio.sleep(seconds))
    else:  # called outside SQLAlchemy's asyncio bridge (a plain sync caller): nothing else to run
        time.sleep(seconds)


async def _nothing() -> None:
    return None


def _patiently(call: Any, *args: Any) -> Any:
    """Return call(*args), awaiting another connection's write lock instead of failing at once."""
    if in_greenlet():
        # SQLAlchemy's asyncio engine checks that a statement awaited something (a guard against
        # sync drivers); this await completes at once, without a turn of the event loop.
        await_(_nothing())
    deadline: float | None = None
    wait = _FIRST_WAIT
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            now = time.monotonic()
            deadline = deadline or now + BUSY_WAIT_SECONDS
            if now >= deadline:
                raise
            _wait(min(wait, deadline - now))
            wait = min(wait * 2, _LONGEST_WAIT)


class Cursor:
    """An sqlite3 cursor whose execute waits for the write lock by awaiting; rows are read at once.

    Reading every row in execute (as SQLAlchemy's asyncio adapters do) ends the statement there,
    so a result used later, outside the greenlet, never holds SQLite's read snapshot open.
    """

    arraysize = 1

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._rows: deque[Any] = deque()

    def execute(self, operation: str, parameters: Any = ()) -> Cursor:
        _patiently(self._cursor.execute, operation, parameters)
        self._rows = deque(self._cursor.fetchall()) if self._cursor.description else deque()
        return self

    def executemany(self, operation: str, seq_of_parameters: Any) -> Cursor:
        _patiently(self._cursor.executemany, operation, seq_of_parameters)
        self._rows = deque()
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio results call this on async drivers' cursors; the rows are read already."""

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()


class Connection:
    """An sqlite3 connection whose cursors, commit and rollback wait for the write lock by awaiting."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def cursor(self) -> Cursor:
        return Cursor(self._connection.cursor())

    def execute(self, operation: str, parameters: Any = ()) -> Cursor:
        return self.cursor().execute(operation, parameters)

    def commit(self) -> None:
        _patiently(self._connection.commit)

    def rollback(self) -> None:
        self._connection.rollback()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._connection.isolation_level = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class _DBAPI:
    """The sqlite3 module, but `connect` hands out the waiting connections above."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> Connection:
        # The lock is awaited in Python (above), never slept on in C; one event loop thread may
        # use a connection another task opened (the pool hands connections between tasks).
        kwargs["timeout"] = 0
        kwargs["check_same_thread"] = False
        return Connection(sqlite3.connect(*args, **kwargs))


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """SQLAlchemy's pysqlite dialect, usable by the asyncio engine (calls run inline in its greenlet)."""

    driver = "inline"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # Waiting for a free connection must await too (the asyncio pool), as with aiosqlite.
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


dialect = InlineSQLiteDialect
