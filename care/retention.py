"""Retention: destroy the personal data of residents inactive longer than DOLBOM_RETENTION_DAYS.

Orders, history and statistics stay, without the identifying fields; each purge is logged.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import lifecycle
from dolbom import clock
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import audit, conversations
from storage.models import (
    CheckinSchedule,
    CheckinSlot,
    Conversation,
    DeskMessage,
    DeskThread,
    FamilyContact,
    Order,
    Outbox,
    Resident,
    ResidentChannel,
    Survey,
)

PURGED_NAME = N_("(deleted)")


async def list_due(session: AsyncSession, *, limit: int = 200) -> list[int]:
    """Return ids of residents inactive past the retention period with no open or recent orders."""
    cutoff = clock.now() - timedelta(days=get_settings().retention_days)
    open_statuses = [s.value for s in lifecycle.OPEN]
    recent_order = exists().where(
        col(Order.resident_id) == col(Resident.id),
        (col(Order.updated_at) >= cutoff) | col(Order.status).in_(open_statuses),
    )
    result = await session.execute(
        select(col(Resident.id))
        .where(col(Resident.purged_at).is_(None), col(Resident.last_active_at) < cutoff, ~recent_order)
        .order_by(col(Resident.id))
        .limit(limit)
    )
    return [i for i in result.scalars() if i is not None]


async def purge(session: AsyncSession, *, resident_id: int, reason: str = "retention") -> Resident:
    """Destroy one resident's personal data (keeping orders without identifying fields) and return the row."""
    resident = await session.get(Resident, resident_id, populate_existing=True)
    assert resident is not None
    now = clock.now()
    chats = [
        (c, k)
        for c, k in (
            await session.execute(
                select(col(ResidentChannel.channel), col(ResidentChannel.user_key)).where(
                    col(ResidentChannel.resident_id) == resident_id
                )
            )
        ).all()
    ]
    for channel, key in chats:
        await session.execute(
            delete(Conversation).where(col(Conversation.channel) == channel, col(Conversation.user_key) == key)
        )
        await session.execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == key,
                col(Outbox.status).in_(["pending", "claimed"]),
            )
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == key)
            .values(chat_id="purged", text="", buttons=None)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Survey)
            .where(col(Survey.channel) == channel, col(Survey.chat_id) == key)
            .values(chat_id=None, comment=None)
            .execution_options(synchronize_session=False)
        )
    await session.execute(delete(ResidentChannel).where(col(ResidentChannel.resident_id) == resident_id))
    await session.execute(delete(FamilyContact).where(col(FamilyContact.resident_id) == resident_id))
    await session.execute(delete(CheckinSchedule).where(col(CheckinSchedule.resident_id) == resident_id))
    await session.execute(
        update(CheckinSlot)
        .where(col(CheckinSlot.resident_id) == resident_id)
        .values(chat_id=None, alerted=None)
        .execution_options(synchronize_session=False)
    )
    threads = select(col(DeskThread.id)).where(col(DeskThread.resident_id) == resident_id)
    await session.execute(
        update(DeskMessage)
        .where(col(DeskMessage.thread_id).in_(threads))
        .values(text="")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(DeskThread)
        .where(col(DeskThread.resident_id) == resident_id)
        .values(user_key="purged")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Order)
        .where(col(Order.resident_id) == resident_id)
        .values(details={}, notes=None, requested_by_key=None, proposed={})
        .execution_options(synchronize_session=False)
    )
    resident.name = gettext(PURGED_NAME)
    resident.phone = None
    resident.address = None
    resident.birth_year = None
    resident.disabled = None
    resident.lives_alone = None
    resident.cannot_manage_alone = None
    resident.no_public_service = None
    resident.no_family_care = None
    resident.income_tier = "unknown"
    resident.needs_phone_call = False
    resident.purged_at = now
    resident.updated_at = now
    session.add(resident)
    await audit.record(session, action="purge", resident_id=resident_id, username="jobs", detail=reason)
    await session.flush()
    return resident


async def purge_due(session: AsyncSession, *, limit: int = 200) -> int:
    """Purge every resident due for destruction (at most limit); return how many."""
    ids = await list_due(session, limit=limit)
    for resident_id in ids:
        await purge(session, resident_id=resident_id)
    return len(ids)


IDLE_CONVERSATION_DAYS = 7
PROCESSED_UPDATE_DAYS = 2


async def purge_conversations(session: AsyncSession) -> tuple[int, int]:
    """Forget unfinished bot conversations idle for a week and old update ids; return (forgotten, purged).

    An abandoned request still holds a name and a phone number in its state: it is not
    kept longer than the person could plausibly come back to it. Telegram redelivers an
    update within a day, so two days of dedupe records are enough.
    """
    now = clock.now()
    forgotten = await conversations.forget_idle(session, idle_since=now - timedelta(days=IDLE_CONVERSATION_DAYS))
    purged = await conversations.purge_processed(session, before=now - timedelta(days=PROCESSED_UPDATE_DAYS))
    return forgotten, purged
