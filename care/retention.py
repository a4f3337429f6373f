"""Retention: destroy the personal data of residents inactive longer than DOLBOM_RETENTION_DAYS.

Orders, history and statistics stay, without the identifying fields; each purge is logged.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import lifecycle, personal_data
from dolbom import clock
from dolbom.settings import get_settings
from storage import audit, conversations
from storage.models import Order, Resident

PURGED_NAME = personal_data.PURGED_NAME


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
    """Destroy one resident's personal data (keeping orders without identifying fields) and return the row.

    Every column the registry (care.personal_data) names as the resident's is destroyed there;
    what remains here are the resident's own non-text facts.
    """
    now = clock.now()
    await personal_data.forget(session, resident_id=resident_id)
    resident = await session.get(Resident, resident_id, populate_existing=True)
    assert resident is not None
    resident.birth_year = None
    resident.birth_date = None
    resident.died_on = None
    resident.moved_out_on = None
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
