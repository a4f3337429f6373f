"""Desk notices: what the jobs tell the desk (late assignments, the daily digest)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from dolbom import clock
from storage.models import DeskNotice


async def list_recent(
    session: AsyncSession, *, district_id: int | None = None, unread_only: bool = False, limit: int = 100
) -> list[DeskNotice]:
    """Return the newest notices (of a district and those for every district)."""
    query = select(DeskNotice)
    if district_id is not None:
        query = query.where((col(DeskNotice.district_id) == district_id) | col(DeskNotice.district_id).is_(None))
    if unread_only:
        query = query.where(col(DeskNotice.read_at).is_(None))
    result = await session.execute(query.order_by(col(DeskNotice.id).desc()).limit(limit))
    return list(result.scalars())


async def mark_read(session: AsyncSession, *, notice_id: int, district_id: int | None = None) -> None:
    """Mark a notice as read (only one the operator's district may see)."""
    query = update(DeskNotice).where(col(DeskNotice.id) == notice_id, col(DeskNotice.read_at).is_(None))
    if district_id is not None:
        query = query.where(col(DeskNotice.district_id) == district_id)
    await session.execute(query.values(read_at=clock.now()).execution_options(synchronize_session=False))
