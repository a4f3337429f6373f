"""Desk notices: what the jobs tell the desk (late assignments, the daily digest)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care.auth import Access
from dolbom import clock
from dolbom.errors import NotFound
from storage.models import DeskNotice, Order


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


async def list_for_desk(session: AsyncSession, *, access: Access, limit: int = 100) -> list[DeskNotice]:
    """Return the newest notices of the operator's district; the residents they name are logged."""
    rows = await list_recent(session, district_id=access.district_id, limit=limit)
    order_ids = [n.order_id for n in rows if n.order_id is not None]
    named = {n.resident_id for n in rows if n.resident_id is not None}
    if order_ids:
        result = await session.execute(select(col(Order.resident_id)).where(col(Order.id).in_(order_ids)))
        named.update(result.scalars())
    await access.log(session, action="notice_list", resident_ids=sorted(named), detail=f"{len(rows)} notices")
    return rows


async def mark_read(session: AsyncSession, *, notice_id: int, access: Access) -> None:
    """Mark a notice of the operator's district (or one for every district) as read (writers only)."""
    access.check_writer()
    notice = await session.get(DeskNotice, notice_id)
    if notice is None or (notice.district_id is not None and not access.sees(notice.district_id)):
        raise NotFound()
    query = update(DeskNotice).where(col(DeskNotice.id) == notice_id, col(DeskNotice.read_at).is_(None))
    await session.execute(query.values(read_at=clock.now()).execution_options(synchronize_session=False))
