"""Which districts and dongs the bot offers a resident: the active ones (several districts in one deployment)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import District, Dong


async def list_active_districts(session: AsyncSession) -> list[District]:
    """Return the active districts in name order (what a resident may pick from)."""
    query = select(District).where(col(District.active)).order_by(col(District.name), col(District.id))
    return list((await session.execute(query)).scalars())


async def get_active_district(session: AsyncSession, *, district_id: int) -> District | None:
    """Return the district when it exists and is active, else None."""
    district = await session.get(District, district_id)
    return district if district is not None and district.active else None


async def get_active_district_by_code(session: AsyncSession, *, code: str) -> District | None:
    """Return the active district with this code (case as written, then lower case), else None."""
    for candidate in dict.fromkeys((code.strip(), code.strip().lower())):
        query = select(District).where(col(District.code) == candidate, col(District.active))
        found = (await session.execute(query)).scalar_one_or_none()
        if found is not None:
            return found
    return None


async def list_active_dongs(session: AsyncSession, *, district_id: int) -> list[Dong]:
    """Return the district's active dongs in name order."""
    query = select(Dong).where(col(Dong.district_id) == district_id, col(Dong.active)).order_by(col(Dong.name))
    return list((await session.execute(query)).scalars())
