"""The inbox: incoming updates stored before they are confirmed, handled in per-chat order, answered once.

A row moves pending → handled → answered (or pending → dead after too many failures):

- `receive` stores raw updates in one short transaction, keyed by (bot id, update id), so a
  redelivered update is stored once; only then does the receiver confirm them to the messenger.
- `claim_next` picks the oldest due pending row whose chat has nothing earlier still pending or
  handled-but-unanswered: one person's messages are handled one at a time, in the order sent.
  PostgreSQL: `FOR UPDATE SKIP LOCKED`, and the row stays locked for the whole handling
  transaction, so several workers share the inbox and a worker that dies simply lets go (its
  transaction rolls back). SQLite: one worker; `BEGIN IMMEDIATE` serialises it with everything else.
- `mark_handled` is the dedupe: it flips pending → handled in the handling transaction, next to
  the effect, and `set_answer` stores the replies in the same transaction. `mark_answered` runs
  after the replies went out and clears what the person wrote and what we answered.
- `record_failure` counts a failed attempt and sets the backoff; at the limit the row is dead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from dolbom import clock
from storage.models import Inbound

# Status values. UNFINISHED rows of a chat hold back that chat's later rows.
PENDING, HANDLED, ANSWERED, DEAD = "pending", "handled", "answered", "dead"
UNFINISHED = (PENDING, HANDLED)
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# How long a handled row belongs to the worker that handled it before anyone else may answer it.
# The worker locks the row (PostgreSQL) or tracks it (SQLite) within milliseconds of its commit;
# the lease only covers that gap, and after a crash it is how long another process waits.
ANSWER_LEASE = timedelta(seconds=3)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt number attempts+1 (1 s, 2 s, 4 s, … at most a minute)."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


async def receive(session: AsyncSession, *, bot_id: int, updates: list[dict[str, Any]]) -> int:
    """Store raw updates (each: update_id, chat_id, kind, payload) once each; return how many were new."""
    if not updates:
        return 0
    now = clock.now()
    rows = [
        {
            "bot_id": bot_id,
            "update_id": u["update_id"],
            "chat_id": u.get("chat_id"),
            "kind": u.get("kind") or "other",
            "payload": u["payload"],
            "status": PENDING,
            "attempts": 0,
            "sent": 0,
            "not_before": now,
            "received_at": now,
        }
        for u in updates
    ]
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    stmt = insert(Inbound).values(rows).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _claim_next_query(*, postgresql: bool, excluding: bool) -> Any:
    earlier = aliased(Inbound)
    blocked = exists().where(
        col(earlier.bot_id) == col(Inbound.bot_id),
        col(earlier.chat_id) == col(Inbound.chat_id),
        col(earlier.update_id) < col(Inbound.update_id),
        col(earlier.status).in_(UNFINISHED),
    )
    query = (
        select(Inbound)
        .where(
            col(Inbound.bot_id) == bindparam("bot_id"),
            col(Inbound.status) == PENDING,
            col(Inbound.not_before) <= bindparam("now"),
            ~blocked,
        )
        .order_by(col(Inbound.update_id))
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if excluding:
        query = query.where(col(Inbound.id).not_in(bindparam("exclude", expanding=True)))
    if postgresql:
        query = query.with_for_update(skip_locked=True, of=Inbound)  # type: ignore[arg-type]
    return query


# The statements of every update's path are built once: building a statement and its cache key
# cost more CPU than SQLite took to run it (issue 15's intake profile).
_CLAIM_NEXT = {(pg, ex): _claim_next_query(postgresql=pg, excluding=ex) for pg in (False, True) for ex in (False, True)}


async def claim_next(session: AsyncSession, *, bot_id: int, exclude: set[int] | None = None) -> Inbound | None:
    """Return the next row to handle, locked for this transaction on PostgreSQL; None when nothing is due."""
    query = _CLAIM_NEXT[(_dialect(session) == "postgresql", bool(exclude))]
    params: dict[str, Any] = {"bot_id": bot_id, "now": clock.now()}
    if exclude:
        params["exclude"] = list(exclude)
    return (await session.execute(query, params)).scalars().first()


async def claim_row(session: AsyncSession, *, row_id: int) -> Inbound | None:
    """Return this pending row again (after a rolled-back attempt), locked on PostgreSQL; None when it is gone."""
    query = (
        select(Inbound)
        .where(col(Inbound.id) == row_id, col(Inbound.status) == PENDING)
        .execution_options(populate_existing=True)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return (await session.execute(query)).scalars().first()


_TABLE = Inbound.__table__  # type: ignore[attr-defined]
_MARK_HANDLED = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == PENDING)
    .values(status=HANDLED, handled_at=bindparam("now"), not_before=bindparam("lease_ends"))
)
_SET_ANSWER = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == HANDLED)
    .values(answer=bindparam("answer"), sent=0)
)
_SET_NO_ANSWER = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == HANDLED)
    .values(answer=None, sent=0, status=ANSWERED, answered_at=bindparam("now"), payload=None)
)


async def mark_handled(session: AsyncSession, *, row_id: int) -> bool:
    """Mark a pending row handled in the current transaction; False when it was handled already."""
    now = clock.now()
    result = await session.execute(_MARK_HANDLED, {"row_id": row_id, "now": now, "lease_ends": now + ANSWER_LEASE})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_answer(session: AsyncSession, *, row_id: int, answer: list[dict[str, Any]]) -> None:
    """Store what must be sent for a handled row (in its handling transaction); no answer means answered."""
    if answer:
        await session.execute(_SET_ANSWER, {"row_id": row_id, "answer": answer})
    else:
        await session.execute(_SET_NO_ANSWER, {"row_id": row_id, "now": clock.now()})


async def ignore(session: AsyncSession, *, row_id: int) -> None:
    """Close a row that needs nothing (a group chat, a kind of update the bot does not use)."""
    now = clock.now()
    await session.execute(
        update(Inbound)
        .where(col(Inbound.id) == row_id, col(Inbound.status) == PENDING)
        .values(status=ANSWERED, handled_at=now, answered_at=now, payload=None, answer=None)
        .execution_options(synchronize_session=False)
    )


def _take_query(*, postgresql: bool) -> Any:
    query = (
        select(Inbound)
        .where(col(Inbound.id) == bindparam("row_id"), col(Inbound.status) == HANDLED)
        .execution_options(populate_existing=True)
    )
    return query.with_for_update(skip_locked=True) if postgresql else query


_TAKE = {pg: _take_query(postgresql=pg) for pg in (False, True)}


async def take_for_answer(session: AsyncSession, *, row_id: int) -> Inbound | None:
    """Return a handled row to answer now, locked against other workers on PostgreSQL (None: not ours)."""
    query = _TAKE[_dialect(session) == "postgresql"]
    return (await session.execute(query, {"row_id": row_id})).scalars().first()


async def take_many_for_answer(session: AsyncSession, *, row_ids: list[int]) -> list[Inbound]:
    """Return those of these handled rows that are free to answer now, locked against other workers on PostgreSQL."""
    if not row_ids:
        return []
    query = (
        select(Inbound)
        .where(col(Inbound.id).in_(row_ids), col(Inbound.status) == HANDLED)
        .order_by(col(Inbound.update_id))
        .execution_options(populate_existing=True)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())


async def list_unanswered(session: AsyncSession, *, bot_id: int, due_only: bool = True, limit: int = 100) -> list[int]:
    """Return ids of handled rows whose answer has not gone out, oldest first (due: lease over)."""
    query = select(col(Inbound.id)).where(col(Inbound.bot_id) == bot_id, col(Inbound.status) == HANDLED)
    if due_only:
        query = query.where(col(Inbound.not_before) <= clock.now())
    result = await session.execute(query.order_by(col(Inbound.update_id)).limit(limit))
    return [row_id for row_id in result.scalars() if row_id is not None]


async def mark_answered(session: AsyncSession, *, row_id: int, error: str | None = None) -> None:
    """Record that the answer went out; forget what the person wrote and what we answered."""
    await session.execute(
        update(Inbound)
        .where(col(Inbound.id) == row_id, col(Inbound.status) == HANDLED)
        .values(status=ANSWERED, answered_at=clock.now(), payload=None, answer=None, last_error=error)
        .execution_options(synchronize_session=False)
    )


_MARK_ANSWERED_MANY = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("row_ids", expanding=True)), _TABLE.c.status == HANDLED)
    .values(status=ANSWERED, answered_at=bindparam("now"), payload=None, answer=None, last_error=None)
)


async def mark_answered_many(session: AsyncSession, *, row_ids: list[int]) -> None:
    """Record that the answers of these rows went out, in one statement (see mark_answered)."""
    if not row_ids:
        return
    await session.execute(_MARK_ANSWERED_MANY, {"row_ids": list(row_ids), "now": clock.now()})


async def answer_later(session: AsyncSession, *, row_id: int, sent: int, not_before: datetime, error: str) -> None:
    """Keep a handled row for another try at not_before, remembering how many actions went out."""
    await session.execute(
        update(Inbound)
        .where(col(Inbound.id) == row_id, col(Inbound.status) == HANDLED)
        .values(sent=sent, not_before=not_before, last_error=error[:500], attempts=col(Inbound.attempts) + 1)
        .execution_options(synchronize_session=False)
    )


async def record_failure(session: AsyncSession, *, row_id: int, error: str) -> Inbound | None:
    """Count a failed handling attempt: back to pending after a backoff, or dead at the limit.

    Return the row as it is now (status dead: tell the desk and the person), or None if it is not
    pending any more (another worker finished it meanwhile).
    """
    row = (
        await session.execute(
            select(Inbound)
            .where(col(Inbound.id) == row_id, col(Inbound.status) == PENDING)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:500]}
    if attempts >= MAX_ATTEMPTS:
        values["status"] = DEAD
    else:
        values["not_before"] = clock.now() + backoff(attempts)
    await session.execute(
        update(Inbound)
        .where(col(Inbound.id) == row_id, col(Inbound.status) == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    for key, value in values.items():
        setattr(row, key, value)
    return row


async def forget_payload(session: AsyncSession, *, row_id: int) -> None:
    """Drop the raw update of a dead row once the desk has what it needs."""
    await session.execute(
        update(Inbound)
        .where(col(Inbound.id) == row_id)
        .values(payload=None)
        .execution_options(synchronize_session=False)
    )


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Return how many rows are in each status (for health checks and tests)."""
    from sqlalchemy import func

    result = await session.execute(select(col(Inbound.status), func.count()).group_by(col(Inbound.status)))
    return {status: int(n) for status, n in result.all()}


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete answered rows older than before (the messenger redelivers within a day); return how many."""
    result = await session.execute(
        delete(Inbound).where(and_(col(Inbound.status) == ANSWERED, col(Inbound.received_at) < before))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
