"""Factories per domain: small, realistic, fictional data for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from care import orders, prices
from care.actors import Actor
from dolbom import clock
from storage.models import (
    CareManager,
    District,
    Dong,
    EligibilityDecision,
    Order,
    Provider,
    ProviderRegion,
    ProviderService,
    Region,
    Resident,
)

_seq = itertools.count(1)
DESK = Actor(kind="operator", id=None, name="김창구", channel="console")


@dataclass
class Place:
    district: District
    regions: list[Region] = field(default_factory=list)
    dongs: list[Dong] = field(default_factory=list)

    @property
    def district_id(self) -> int:
        assert self.district.id is not None
        return self.district.id


async def make_district(session: AsyncSession, *, name: str = "마포구", dongs_per_region: int = 2) -> Place:
    """A district with two regions (권역) and dongs in each, and the default catalog."""
    n = next(_seq)
    district = District(code=f"D{n:03d}", name=name)
    session.add(district)
    await session.flush()
    place = Place(district=district)
    for r in ("1권역", "2권역"):
        region = Region(district_id=place.district_id, name=r)
        session.add(region)
        await session.flush()
        place.regions.append(region)
        for i in range(dongs_per_region):
            dong = Dong(district_id=place.district_id, region_id=region.id, name=f"{r[0]}-{i + 1}동")  # type: ignore[arg-type]
            session.add(dong)
            place.dongs.append(dong)
    await session.flush()
    await prices.create_defaults(session, district_id=place.district_id, year=clock.local_now().year)
    return place


async def make_resident(session: AsyncSession, place: Place, *, decided: bool = True, **kw: Any) -> Resident:
    """A resident of the first dong, 80 years old, living alone, 수급.

    decided: the desk has recorded them eligible (65+, cannot manage alone) with their income tier
    as verified, since 2000 (none when the tier is "unknown": that needs the desk's decision).
    """
    n = next(_seq)
    values: dict[str, Any] = {
        "district_id": place.district_id,
        "dong_id": place.dongs[0].id,
        "name": f"박순자{n}",
        "phone": f"+8210000{n:05d}"[:14],
        "birth_year": clock.local_now().year - 80,
        "lives_alone": True,
        "income_tier": "basic",
    }
    values.update(kw)
    resident = Resident(**values)
    session.add(resident)
    await session.flush()
    if decided and resident.income_tier in ("basic", "near_poor", "general"):
        assert resident.id is not None
        session.add(
            EligibilityDecision(
                district_id=resident.district_id,
                resident_id=resident.id,
                eligible=True,
                ground="elderly",
                situations=["cannot_manage_alone"],
                income_tier=resident.income_tier,
                valid_from=date(2000, 1, 1),
            )
        )
        await session.flush()
    return resident


async def make_provider(
    session: AsyncSession,
    place: Place,
    *,
    name: str | None = None,
    services: tuple[str, ...] = ("meals", "home_care", "escort", "housing"),
    region_index: int = 0,
    is_lead: bool = False,
    weekly_capacity: int = 20,
    active: bool = True,
    registration: str = "registered",
) -> Provider:
    """A provider that serves one region of the place (registered, unless registration="pending")."""
    provider = Provider(
        district_id=place.district_id,
        name=name or f"마포나눔협동조합{next(_seq)}",
        weekly_capacity=weekly_capacity,
        active=active,
        registration=registration,
    )
    session.add(provider)
    await session.flush()
    assert provider.id is not None
    for code in services:
        session.add(ProviderService(provider_id=provider.id, service_code=code))
    session.add(ProviderRegion(provider_id=provider.id, region_id=place.regions[region_index].id, is_lead=is_lead))  # type: ignore[arg-type]
    await session.flush()
    return provider


async def make_order(
    session: AsyncSession, resident: Resident, *, service_code: str = "meals", units: int = 10, **kw: Any
) -> Order:
    """A new order (접수) for the resident."""
    assert resident.id is not None
    return await orders.create(
        session,
        resident_id=resident.id,
        service_code=service_code,
        units=units,
        actor=DESK,
        source=kw.pop("source", "desk_phone"),
        **kw,
    )


async def make_care_manager(
    session: AsyncSession, place: Place, *, dong_index: int = 0, name: str = "이민정"
) -> CareManager:
    """A care manager (동 돌봄매니저) of one dong of the place."""
    manager = CareManager(district_id=place.district_id, dong_id=place.dongs[dong_index].id, name=name)  # type: ignore[arg-type]
    session.add(manager)
    await session.flush()
    return manager


async def decide_eligible(session: AsyncSession, resident_id: int | None, *, income_tier: str = "basic") -> None:
    """Record the desk's decision that a resident (e.g. one a chat request made) is eligible, since 2000."""
    resident = await session.get(Resident, resident_id)
    assert resident is not None and resident.id is not None
    session.add(
        EligibilityDecision(
            district_id=resident.district_id,
            resident_id=resident.id,
            eligible=True,
            ground="elderly",
            situations=["cannot_manage_alone"],
            income_tier=income_tier,
            valid_from=date(2000, 1, 1),
        )
    )
    await session.flush()
