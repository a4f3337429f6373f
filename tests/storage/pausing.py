"""A barrier inside a service call: stop one session just before a chosen SQL statement.

The races of issue 10 live between two statements of one service function (a read, then the
write that trusts it). To make such a race happen every time, a test attaches a `Pause` to the
session that runs the service: the session stops before the matching statement (the service's
code runs unchanged, the pause is an SQLAlchemy connection event), the other session does its
work and commits, and then the paused one goes on.

`patience`: when the other session cannot finish because it waits for us (a row lock on
PostgreSQL, SQLite's one write lock), the paused session goes on after that many seconds, so the
test never deadlocks. A test that lets this happen (SQLite always: BEGIN IMMEDIATE holds the write
lock from the first statement) must check which session finished first and assert the outcome of
that order (tests/care/test_races.py `race`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import await_only

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def first_write_or_lock(statement: str) -> bool:
    """Match the first statement that writes or takes a row lock (before it, a session holds no lock)."""
    return bool(WRITE.match(statement)) or "FOR UPDATE" in statement.upper()


def select_from(table: str) -> Callable[[str], bool]:
    """Match a SELECT that reads from the table."""
    pattern = re.compile(rf"^\s*SELECT\b.*\bFROM\s+\"?{table}\"?\b", re.IGNORECASE | re.DOTALL)
    return lambda statement: bool(pattern.match(statement))


def reading_again_or_first_write(table: str, *, reads: int = 2) -> Callable[[str], bool]:
    """Match the nth SELECT from the table (default: the second), or an earlier first write or lock."""
    select_table = select_from(table)
    seen = [0]

    def when(statement: str) -> bool:
        if first_write_or_lock(statement):
            return True
        if select_table(statement):
            seen[0] += 1
            return seen[0] == reads
        return False

    return when


class Pause:
    """Stop a session before the nth statement that `when` matches, until `go` is set (or patience runs out)."""

    def __init__(
        self,
        when: Callable[[str], bool] = first_write_or_lock,
        *,
        nth: int = 1,
        barrier: asyncio.Barrier | None = None,
        patience: float = 2.0,
    ) -> None:
        self.when = when
        self.nth = nth
        self.barrier = barrier
        self.patience = patience
        self.reached = asyncio.Event()
        self.go = asyncio.Event()
        self._seen = 0
        self._done = False

    async def attach(self, session: AsyncSession) -> None:
        """Watch the statements of the session's current transaction."""
        conn = await session.connection()
        event.listen(conn.sync_connection, "before_cursor_execute", self._before)

    async def _wait(self) -> None:
        self.reached.set()
        if self.barrier is not None:
            with contextlib.suppress(TimeoutError, asyncio.BrokenBarrierError):
                await asyncio.wait_for(self.barrier.wait(), self.patience)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.go.wait(), self.patience)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self._done or not self.when(statement):
            return
        self._seen += 1
        if self._seen < self.nth:
            return
        self._done = True
        # We run inside SQLAlchemy's greenlet: await_only hands the wait to the event loop.
        await_only(self._wait())

    @property
    def happened(self) -> bool:
        """True when the session reached the statement (a test that never paused proves nothing)."""
        return self._done
