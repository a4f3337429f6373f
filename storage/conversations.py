"""Conversation state per (channel, user key), saved with a version check.

Two updates for the same person are never applied at once: `save` is
`UPDATE ... WHERE version = :seen`, and the loser gets ConflictError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from dolbom import clock
from dolbom.errors import ConflictError
from storage import inbound
from storage.models import Conversation, Outbox

# populate_existing: another instance may have changed it since this session last looked, so the
# row is read afresh in the same statement (no refresh after it). Built once: every update loads
# and saves its conversation, and building the statements cost more than running them.
_LOAD = (
    select(Conversation)
    .where(col(Conversation.channel) == bindparam("channel"), col(Conversation.user_key) == bindparam("user_key"))
    .execution_options(populate_existing=True)
)
_TABLE = Conversation.__table__  # type: ignore[attr-defined]
_SAVE_WHERE = (_TABLE.c.id == bindparam("row_id")) & (_TABLE.c.version == bindparam("seen"))
_SAVE = update(_TABLE).where(_SAVE_WHERE).values(
    state=bindparam("state"), version=bindparam("version"), updated_at=bindparam("updated_at")
)
_SAVE_WITH_LANGUAGE = _SAVE.values(language=bindparam("language"))


async def load(session: AsyncSession, *, channel: str, user_key: str) -> Conversation:
    """Return the person's conversation, creating an empty one the first time."""
    params = {"channel": channel, "user_key": user_key}
    row = (await session.execute(_LOAD, params)).scalar_one_or_none()
    if row is not None:
        return row
    row = Conversation(channel=channel, user_key=user_key, state={}, version=1)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Created at the same moment by a second instance: use theirs.
        return (await session.execute(_LOAD, params)).scalar_one()
    return row


async def save(
    session: AsyncSession, *, conversation: Conversation, state: dict[str, Any], language: str | None = None
) -> int:
    """Store the new state if nobody changed it since it was loaded; return the new version."""
    seen = conversation.version
    values: dict[str, Any] = {"state": state, "version": seen + 1, "updated_at": clock.now()}
    if language:
        values["language"] = language
    result = await session.execute(
        _SAVE_WITH_LANGUAGE if language else _SAVE, {**values, "row_id": conversation.id, "seen": seen}
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError()
    # What was written is what the row holds now: set it without reading it back (and without
    # marking the object changed, which would write it again at the next flush).
    for key, value in values.items():
        set_committed_value(conversation, key, value)
    return seen + 1


async def take_outbox(
    session: AsyncSession, *, channel: str, chat_id: str, after: int | None = None, limit: int = 20
) -> list[Outbox]:
    """Return the chat's due outbox messages after id `after`, oldest first (channels that poll, like the web chat).

    A message is marked sent only when the client acknowledges it: `after` is the id of the last
    message the client has shown, so everything up to it is delivered. Until then every poll offers
    it again (a response lost on the way loses nothing; the client skips ids it has shown).
    """
    now = clock.now()
    if after is not None:
        # Guarded: only this chat's rows still pending; two polls acknowledging at once change each row once.
        await session.execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == chat_id,
                col(Outbox.status) == "pending",
                col(Outbox.id) <= after,
            )
            .values(status="sent", sent_at=now)
            .execution_options(synchronize_session=False)
        )
    result = await session.execute(
        select(Outbox)
        .where(
            col(Outbox.channel) == channel,
            col(Outbox.chat_id) == chat_id,
            col(Outbox.status) == "pending",
            col(Outbox.not_before) <= now,
            col(Outbox.id) > (after or 0),
        )
        .order_by(col(Outbox.id))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def forget_idle(session: AsyncSession, *, idle_since: datetime) -> int:
    """Forget the answers of conversations untouched since idle_since (unfinished requests); return how many."""
    rows = list(
        (await session.execute(select(Conversation).where(col(Conversation.updated_at) < idle_since))).scalars()
    )
    forgotten = 0
    for row in rows:
        state = dict(row.state or {})
        if not state.get("a") and not state.get("m") and not state.get("flow"):
            continue
        kept: dict[str, Any] = {k: state[k] for k in ("lang", "last_receipt") if k in state}
        kept["n"] = int(state.get("n", 0)) + 1
        result = await session.execute(
            update(Conversation)
            .where(col(Conversation.id) == row.id, col(Conversation.version) == row.version)
            .values(state=kept, version=row.version + 1, updated_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        forgotten += int(result.rowcount)  # type: ignore[attr-defined]
    return forgotten


async def purge_processed(session: AsyncSession, *, before: datetime) -> int:
    """Delete the inbox rows of updates answered before `before` (Telegram redelivers within a day)."""
    return await inbound.purge(session, before=before)
