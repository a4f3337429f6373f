"""The outbox: messages the system sends on its own, written in the caller's transaction."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, any_, bindparam, exists, literal, not_, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from dolbom import clock
from storage.models import Outbox


async def enqueue(
    session: AsyncSession,
    *,
    district_id: int | None,
    channel: str,
    chat_id: str,
    text: str,
    buttons: list[Any] | None = None,
    kind: str = "notice",
    ref: str | None = None,
    not_before: datetime | None = None,
    resident_id: int | None = None,
) -> Outbox:
    """Add a message to the outbox in the current transaction and return the row.

    district_id has no default on purpose: every writer says whose business the message is
    (None only for messages that belong to no district), so the console can seal dead letters.
    """
    row = Outbox(
        district_id=district_id,
        channel=channel,
        chat_id=chat_id,
        resident_id=resident_id,
        text=text,
        buttons=buttons,
        kind=kind,
        ref=ref,
        not_before=not_before or clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


# ---------------------------------------------------------------- the sender's side
#
# A row moves pending → claimed (a batch, with a lease, nothing sent yet) → sending (committed
# just before the one HTTP call) → sent. A claimed row whose sender died goes back to pending
# (it was never attempted). A row left in "sending" may or may not have reached the chat, so it
# is in doubt: docs/decisions/0007 settles it by kind (care.deliveries): a marked copy is sent
# ("resent"), or, for a check-in question, it is not repeated ("not_repeated"; the slot's reminder
# and escalation go on). The row itself is never sent twice.
# Failures that certainly did not deliver (429, 5xx, no connection) go back to pending with a
# not_before; after the attempt limit the row is "dead" (dead letter, shown on the console).

SENDABLE = ("pending",)
# "unconfirmed" is what a row in doubt became before decision 0007; such rows are settled on start.
IN_DOUBT = ("sending", "unconfirmed")
REVIEW_STATUSES = ("dead", "unconfirmed")


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _id_among(session: AsyncSession, row_ids: list[int]) -> Any:
    # PostgreSQL: one array parameter (`id = ANY($1)`); an IN list of a thousand ids is compiled
    # with a cast per element on every call, which cost the sender more than the statement itself.
    if _dialect(session) == "postgresql":
        return col(Outbox.id) == any_(literal(list(row_ids), ARRAY(Integer)))
    return col(Outbox.id).in_(row_ids)


def _due(row: Any, now: Any) -> Any:
    return or_(
        and_(row.status == "pending", row.not_before <= now),
        and_(row.status == "claimed", row.claimed_until < now),
    )


async def claim(
    session: AsyncSession,
    *,
    sender_id: str,
    limit: int,
    lease: timedelta = timedelta(minutes=5),
    channel: str = "telegram",
) -> list[Outbox]:
    """Claim up to limit due rows of a channel for this sender and return them, oldest first.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so several senders never claim the same row.
    SQLite: a guarded UPDATE (only rows still unclaimed change), one writer at a time.
    """
    now = clock.now()
    due = and_(col(Outbox.channel) == channel, _due(Outbox, now))
    query = _candidates(_dialect(session) == "postgresql")
    params = {"channel": channel, "now": now, "limit": limit}
    candidates = [(row_id, chat) for row_id, chat in (await session.execute(query, params)).all() if row_id is not None]
    ids = await _in_chat_order(session, channel=channel, candidates=candidates, now=now)
    if not ids:
        return []
    await session.execute(
        update(Outbox)
        .where(_id_among(session, ids), due)
        .values(status="claimed", claimed_by=sender_id, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        select(Outbox)
        .where(_id_among(session, ids), col(Outbox.claimed_by) == sender_id, col(Outbox.status) == "claimed")
        .order_by(col(Outbox.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


@functools.cache
def _candidates(postgresql: bool) -> Any:
    """The claim's first look (channel, now, limit as parameters), built once: the sender runs it often."""
    now: Any = bindparam("now")
    # A row behind an earlier row of its chat that is on its way and not due itself (being sent,
    # claimed, waiting for its retry) cannot be taken: leave it out here, so a chat's later rows
    # are not read (and dropped) again by every claim while its earlier one is out. Which of the
    # rest head their chat's line is _in_chat_order's decision (rows skipped as locked, the limit).
    earlier = aliased(Outbox)
    blocked = exists().where(
        col(earlier.channel) == col(Outbox.channel),
        col(earlier.chat_id) == col(Outbox.chat_id),
        col(earlier.id) < col(Outbox.id),
        _holds_back(now, earlier),
        not_(_due(earlier, now)),
    )
    query = (
        select(col(Outbox.id), col(Outbox.chat_id))
        .where(col(Outbox.channel) == bindparam("channel"), _due(Outbox, now), not_(blocked))
        .order_by(col(Outbox.id))
        .limit(bindparam("limit", type_=Integer))
    )
    return query.with_for_update(skip_locked=True) if postgresql else query


# An earlier row of the same chat that is still on its way holds the later ones back, so a chat's
# messages arrive in the order they were written: one being sent or claimed, or one waiting for its
# retry (429's retry_after, a 5xx backoff). A row written for later (not_before ahead, never tried)
# does not hold back what is due now.
def _holds_back(now: Any, row: Any = Outbox) -> Any:
    return or_(
        row.status.in_(["claimed", "sending"]),
        and_(
            row.status == "pending",
            or_(row.not_before <= now, row.last_error.is_not(None)),
        ),
    )


async def _in_chat_order(
    session: AsyncSession, *, channel: str, candidates: list[tuple[int, str]], now: datetime
) -> list[int]:
    """Return the candidate ids that head their chat's line (no earlier row of the chat still on its way)."""
    if not candidates:
        return []
    chosen = {row_id for row_id, _ in candidates}
    chats = sorted({chat for _, chat in candidates})
    last = max(chosen)
    earlier: dict[str, list[int]] = {}
    for i in range(0, len(chats), 500):
        result = await session.execute(
            select(col(Outbox.id), col(Outbox.chat_id))
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.chat_id).in_(chats[i : i + 500]),
                col(Outbox.id) <= last,
                _holds_back(now),
            )
            .order_by(col(Outbox.id))
        )
        for row_id, chat in result.all():
            if row_id is not None:
                earlier.setdefault(chat, []).append(row_id)
    heads: list[int] = []
    for line in earlier.values():
        for row_id in line:  # the chat's line in order: take candidates until the first row not taken
            if row_id not in chosen:
                break
            heads.append(row_id)
    return sorted(heads)


async def release(session: AsyncSession, *, row_ids: list[int], sender_id: str) -> int:
    """Give back claimed rows of this sender without trying them (an earlier row of their chat must go first)."""
    if not row_ids:
        return 0
    result = await session.execute(
        update(Outbox)
        .where(_id_among(session, row_ids), col(Outbox.status) == "claimed", col(Outbox.claimed_by) == sender_id)
        .values(status="pending", claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def begin_send(session: AsyncSession, *, row_id: int, sender_id: str) -> bool:
    """Mark a claimed row as being sent now; return False when the claim was lost (do not send)."""
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id, col(Outbox.status) == "claimed", col(Outbox.claimed_by) == sender_id)
        .values(status="sending")
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def begin_send_many(session: AsyncSession, *, row_ids: list[int], sender_id: str) -> set[int]:
    """Mark claimed rows as being sent now, in one statement; return the ids whose claim held (send only those)."""
    if not row_ids:
        return set()
    result = await session.execute(
        update(Outbox)
        .where(_id_among(session, row_ids), col(Outbox.status) == "claimed", col(Outbox.claimed_by) == sender_id)
        .values(status="sending")
        .returning(col(Outbox.id))
        .execution_options(synchronize_session=False)
    )
    return {int(row_id) for row_id in result.scalars() if row_id is not None}


async def mark_sent_many(session: AsyncSession, *, row_ids: list[int]) -> None:
    """Record that these rows were delivered, in one statement."""
    if not row_ids:
        return
    await session.execute(
        update(Outbox)
        .where(_id_among(session, row_ids))
        .values(status="sent", sent_at=clock.now(), claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


async def _set(session: AsyncSession, row_id: int, **values: Any) -> None:
    await session.execute(
        update(Outbox).where(col(Outbox.id) == row_id).values(**values).execution_options(synchronize_session=False)
    )


async def mark_sent(session: AsyncSession, *, row_id: int) -> None:
    """Record that the row was delivered."""
    await _set(session, row_id, status="sent", sent_at=clock.now(), claimed_until=None, last_error=None)


async def retry_later(
    session: AsyncSession, *, row_id: int, not_before: datetime, error: str, count_attempt: bool = True
) -> None:
    """Put a row that was certainly not delivered back to pending, due again at not_before."""
    values: dict[str, Any] = {
        "status": "pending",
        "not_before": not_before,
        "last_error": error[:500],
        "claimed_by": None,
        "claimed_until": None,
    }
    if count_attempt:
        values["attempts"] = col(Outbox.attempts) + 1
    await _set(session, row_id, **values)


async def mark_dead(session: AsyncSession, *, row_id: int, error: str) -> None:
    """Move a row to the dead letters (shown on the console)."""
    await _set(
        session, row_id, status="dead", last_error=error[:500], attempts=col(Outbox.attempts) + 1, claimed_until=None
    )


async def cancel_chat(session: AsyncSession, *, channel: str, chat_id: str, reason: str) -> int:
    """Cancel every unsent row to a chat (it blocked us); return how many."""
    result = await session.execute(
        update(Outbox)
        .where(
            col(Outbox.channel) == channel,
            col(Outbox.chat_id) == chat_id,
            col(Outbox.status).in_(["pending", "claimed"]),
        )
        .values(status="cancelled", last_error=reason[:500], claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def release_claims(session: AsyncSession, *, sender_id: str) -> int:
    """Give back this sender's claimed, unattempted rows (on a clean stop); return how many."""
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.status) == "claimed", col(Outbox.claimed_by) == sender_id)
        .values(status="pending", claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def recover(session: AsyncSession, *, channel: str = "telegram") -> tuple[int, list[Outbox]]:
    """After a crash, as the only sender: give claimed rows back; return (released, the rows in doubt).

    Rows in doubt are those a dead sender was sending (and, from before decision 0007, rows left
    "unconfirmed"): the caller settles each by its kind (care.deliveries). Call it only when no other
    sender is running for this database (the jobs process holding the scheduler lock, or the one
    SQLite process).
    """
    released = await session.execute(
        update(Outbox)
        .where(col(Outbox.channel) == channel, col(Outbox.status) == "claimed")
        .values(status="pending", claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        select(Outbox)
        .where(col(Outbox.channel) == channel, col(Outbox.status).in_(IN_DOUBT))
        .order_by(col(Outbox.id))
        .execution_options(populate_existing=True)
    )
    return int(released.rowcount or 0), list(result.scalars())  # type: ignore[attr-defined]


async def settle_in_doubt(session: AsyncSession, *, row_id: int, status: str, error: str) -> bool:
    """Close a row whose delivery is unknown as resent|not_repeated; False when it was settled already."""
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id, col(Outbox.status).in_(IN_DOUBT))
        .values(status=status, last_error=error[:500], claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Columns a marked copy does not take over from the row in doubt (its own state starts afresh).
_FRESH = {
    "id",
    "text",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "not_before",
    "claimed_until",
    "claimed_by",
    "sent_at",
}


async def enqueue_copy(session: AsyncSession, *, row: Outbox, text: str) -> Outbox:
    """Add a copy of a row (same chat, kind, buttons, reference, ...) with new text; return it."""
    values = {c.name: getattr(row, c.name) for c in Outbox.__table__.columns if c.name not in _FRESH}  # type: ignore[attr-defined]
    copy = Outbox(**values, text=text, not_before=clock.now())
    session.add(copy)
    await session.flush()
    return copy


async def list_unsent(session: AsyncSession, *, channel: str, chat_id: str) -> list[Outbox]:
    """Return a chat's rows not yet sent (pending or claimed), oldest first."""
    result = await session.execute(
        select(Outbox)
        .where(
            col(Outbox.channel) == channel,
            col(Outbox.chat_id) == chat_id,
            col(Outbox.status).in_(["pending", "claimed"]),
        )
        .order_by(col(Outbox.id))
    )
    return list(result.scalars())


def _in_district(district_id: int | None) -> Any:
    # None = every district (an operator bound to none); otherwise that district's rows only.
    return True if district_id is None else col(Outbox.district_id) == district_id


async def list_for_review(session: AsyncSession, *, district_id: int | None = None, limit: int = 200) -> list[Outbox]:
    """Return dead and unconfirmed rows of a district (None: all), newest first (the console's dead letters)."""
    result = await session.execute(
        select(Outbox)
        .where(col(Outbox.status).in_(REVIEW_STATUSES), _in_district(district_id))
        .order_by(col(Outbox.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


async def requeue(session: AsyncSession, *, row_id: int, district_id: int | None = None) -> bool:
    """Send a dead or unconfirmed row of a district (None: any) again; return False when it is not one."""
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id, col(Outbox.status).in_(REVIEW_STATUSES), _in_district(district_id))
        .values(status="pending", attempts=0, not_before=clock.now(), claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def enqueue_many(session: AsyncSession, messages: list[dict[str, Any]]) -> int:
    """Add many messages (each with enqueue's keywords) in the current transaction; return how many."""
    if any("district_id" not in m for m in messages):
        raise ValueError("every outbox message names its district_id (None for no district)")
    now = clock.now()
    rows = [Outbox(**{"not_before": now, **m}) for m in messages]
    session.add_all(rows)
    await session.flush()
    return len(rows)
