"""Shared arrangements for the jobs tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dolbom import clock
from storage.models import CareManager, ChannelBinding, FamilyContact, Outbox, Resident, ResidentChannel
from tests import factories

SEOUL = ZoneInfo("Asia/Seoul")


def seoul(*args: int) -> datetime:
    """Return an aware moment given in Seoul time."""
    return datetime(*args, tzinfo=SEOUL)  # type: ignore[misc]


async def resident_with_chat(session: AsyncSession, place: factories.Place, key: str, **kw: object) -> Resident:
    """A resident reachable on telegram at chat `key`, their own (verified by their shared contact)."""
    resident = await factories.make_resident(session, place, **kw)
    session.add(
        ResidentChannel(
            resident_id=resident.id,  # type: ignore[arg-type]
            channel="telegram",
            user_key=key,
            verified_at=clock.now(),
            verified_how="telegram_contact",
        )
    )
    await session.flush()
    return resident


async def add_family(
    session: AsyncSession, resident: Resident, key: str, phone: str = "010-9999-0000", *, confirmed: bool = True
) -> None:
    """A family member registered for alerts; confirmed by the desk unless confirmed=False."""
    session.add(
        FamilyContact(
            resident_id=resident.id,  # type: ignore[arg-type]
            name="딸",
            relation="daughter",
            phone=phone,
            channel="telegram",
            user_key=key,
            verified_at=clock.now() if confirmed else None,
        )
    )
    await session.flush()


async def add_care_manager(session: AsyncSession, place: factories.Place, key: str) -> CareManager:
    cm = CareManager(district_id=place.district_id, dong_id=place.dongs[0].id, name="이매니저")  # type: ignore[arg-type]
    session.add(cm)
    await session.flush()
    session.add(ChannelBinding(channel="telegram", user_key=key, role="care_manager", care_manager_id=cm.id))
    await session.flush()
    return cm


async def outbox_to(session: AsyncSession, chat_id: str) -> list[Outbox]:
    result = await session.execute(select(Outbox).where(Outbox.chat_id == chat_id).order_by(Outbox.id))
    return list(result.scalars())
