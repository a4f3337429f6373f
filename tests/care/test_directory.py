"""The district directory: scope (own district only, 404 for others), no deletes, the access log, the bot's dongs."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import directory, districts, intake, prices
from care.auth import Access
from dolbom import clock
from dolbom.errors import DuplicateError, InvalidInput, NotFound, PermissionDenied
from storage.models import AccessLog, Order, ProviderService, Resident
from tests import factories


def _access(role: str = "admin", district_id: int | None = None) -> Access:
    return Access(operator_id=None, username=f"{role}-{district_id}", ip="10.0.0.1", district_id=district_id, role=role)


async def _actions(session: AsyncSession) -> list[str]:
    return [r.action for r in (await session.execute(select(AccessLog).order_by(AccessLog.id))).scalars()]


async def test_an_admin_of_all_districts_sets_up_a_district_from_nothing(session: AsyncSession) -> None:
    admin = _access()
    d = await directory.create_district(
        session, access=admin, code="11440", name="마포구", phone="02-3153-8000", office_hours="평일 9시-18시"
    )
    assert d.id is not None and d.phone == "+82231538000"
    r1 = await directory.create_region(session, access=admin, district_id=d.id, name="1권역")
    dong = await directory.create_dong(session, access=admin, district_id=d.id, region_id=r1.id, name="공덕동")  # type: ignore[arg-type]
    p = await directory.create_provider(
        session,
        access=admin,
        district_id=d.id,
        name="마포돌봄협동조합",
        kind="cooperative",
        phone="02-715-0000",
        setup=directory.ProviderSetup(services={"meals": 30, "home_care": None}, regions={r1.id}, lead_regions={r1.id}),  # type: ignore[arg-type]
    )
    m = await directory.create_care_manager(
        session,
        access=admin,
        district_id=d.id,
        dong_id=dong.id,
        name="김돌봄",
        job_type="nurse",
        phone="010-2222-3333",  # type: ignore[arg-type]
    )
    caps = {s.service_code: s.weekly_capacity for s in (await session.execute(select(ProviderService))).scalars()}
    assert caps == {"meals": 30, "home_care": None}
    view = await directory.get_provider(session, access=admin, provider_id=p.id)  # type: ignore[arg-type]
    assert view.lead_regions == {r1.id} and p.kind == "cooperative" and m.job_type == "nurse"
    full = await directory.get_directory(session, access=admin, district_id=d.id)
    assert all(full.steps.values())
    assert await prices.list_catalog(session, district_id=d.id, year=clock.local_now().year)
    assert await _actions(session) == [
        "district_create",
        "region_create",
        "dong_create",
        "provider_create",
        "care_manager_create",
    ]


async def test_another_districts_admin_cannot_see_or_change_it(session: AsyncSession) -> None:
    mine = await factories.make_district(session, name="마포구")
    other = await factories.make_district(session, name="은평구")
    provider = await factories.make_provider(session, mine)
    manager = await factories.make_care_manager(session, mine)
    theirs = _access(district_id=other.district_id)
    with pytest.raises(NotFound):
        await directory.get_directory(session, access=theirs, district_id=mine.district_id)
    with pytest.raises(NotFound):
        await directory.update_district(
            session, access=theirs, district_id=mine.district_id, code="X1", name="x", phone=None, office_hours=None
        )
    with pytest.raises(NotFound):
        await directory.create_region(session, access=theirs, district_id=mine.district_id, name="3권역")
    with pytest.raises(NotFound):
        await directory.deactivate_dong(session, access=theirs, dong_id=mine.dongs[0].id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await directory.deactivate_provider(session, access=theirs, provider_id=provider.id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await directory.deactivate_care_manager(session, access=theirs, care_manager_id=manager.id)  # type: ignore[arg-type]
    # Their own 권역 cannot be given one of our 동 nor one of ours be moved into theirs.
    with pytest.raises(NotFound):
        await directory.create_dong(
            session,
            access=theirs,
            district_id=other.district_id,
            region_id=mine.regions[0].id,
            name="새동",  # type: ignore[arg-type]
        )
    # A district-bound admin adds no district; operators change nothing.
    with pytest.raises(PermissionDenied):
        await directory.create_district(session, access=theirs, code="X2", name="새구")
    with pytest.raises(PermissionDenied):
        await directory.create_region(
            session, access=_access("operator", mine.district_id), district_id=mine.district_id, name="3권역"
        )
    assert await _actions(session) == []


async def test_bad_input_is_refused_with_a_reason(session: AsyncSession) -> None:
    admin = _access()
    place = await factories.make_district(session)
    with pytest.raises(InvalidInput):
        await directory.create_district(session, access=admin, code="마포 구", name="마포구")
    with pytest.raises(DuplicateError):
        await directory.create_district(session, access=admin, code=place.district.code, name="또구")
    with pytest.raises(DuplicateError):
        await directory.create_region(session, access=admin, district_id=place.district_id, name="1권역")
    with pytest.raises(InvalidInput):
        await directory.create_care_manager(
            session,
            access=admin,
            district_id=place.district_id,
            dong_id=place.dongs[0].id,
            name="김",
            job_type="x",  # type: ignore[arg-type]
        )
    with pytest.raises(InvalidInput):
        await directory.create_provider(session, access=admin, district_id=place.district_id, name="가", kind="company")
    lead = await factories.make_provider(session, place, name="책임기관", is_lead=True)
    with pytest.raises(InvalidInput):  # one lead per 권역
        await directory.create_provider(
            session,
            access=admin,
            district_id=place.district_id,
            name="둘째",
            kind="cooperative",
            setup=directory.ProviderSetup(regions={place.regions[0].id}, lead_regions={place.regions[0].id}),  # type: ignore[arg-type]
        )
    assert lead.active


async def test_deactivating_a_dong_keeps_its_orders_and_hides_it_from_new_requests(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    resident = await factories.make_resident(session, place)
    order = await factories.make_order(session, resident)
    gone = place.dongs[0]
    await directory.deactivate_dong(session, access=_access(), dong_id=gone.id)  # type: ignore[arg-type]
    offered = await intake.list_dongs(session, district_id=place.district_id)
    assert gone.id not in {d.id for d in offered} and len(offered) == len(place.dongs) - 1
    assert (await session.get(Order, order.id)) is not None
    kept = await session.get(Resident, resident.id)
    assert kept is not None and kept.dong_id == gone.id
    # A whole 권역 switched off takes its dongs out of new requests too.
    await directory.deactivate_region(session, access=_access(), region_id=place.regions[1].id)  # type: ignore[arg-type]
    assert {d.region_id for d in await intake.list_dongs(session, district_id=place.district_id)} == {
        place.regions[0].id
    }


async def test_the_desk_phone_falls_back_to_the_old_words_without_a_number(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    assert await districts.call_desk(session, district_id=place.district_id, locale="en") == "Please call the desk."
    await directory.update_district(
        session,
        access=_access(),
        district_id=place.district_id,
        code=place.district.code,
        name="마포구",
        phone="02-3153-8000",
        office_hours="weekdays 9-18",
    )
    text = await districts.call_desk(session, district_id=place.district_id, locale="en")
    assert text == "Please call the desk: 02-3153-8000 (weekdays 9-18)."


async def test_a_new_catalog_year_copies_the_last_one_with_its_limit(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    year = clock.local_now().year
    rows = await prices.list_catalog(session, district_id=place.district_id, year=year)
    await prices.update_entry(session, entry_id=rows[0].id, unit_price=12345, cap_units=7, active=True)  # type: ignore[arg-type]
    await prices.set_annual_limit(session, district_id=place.district_id, year=year, annual_limit=1_800_000)
    assert await prices.get_annual_limit(session, district_id=place.district_id, year=year + 1) == 1_800_000
    added = await prices.copy_year(session, district_id=place.district_id, year=year + 1)
    assert added == len(rows)
    copied = {
        r.code: (r.unit_price, r.cap_units)
        for r in await prices.list_catalog(session, district_id=place.district_id, year=year + 1)
    }
    assert copied[rows[0].code] == (12345, 7)
    await prices.set_annual_limit(session, district_id=place.district_id, year=year + 1, annual_limit=2_000_000)
    assert await prices.get_annual_limit(session, district_id=place.district_id, year=year) == 1_800_000
    assert await prices.copy_year(session, district_id=place.district_id, year=year + 1) == 0
