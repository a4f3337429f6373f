"""The month's settlement per provider: delivered units × unit price, split public / resident."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements, orders, provider_tasks, settlement
from care.auth import Access
from dolbom import clock
from storage.models import Provider, Resident
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def deliver(
    session: AsyncSession,
    place: Place,
    provider: Provider,
    resident: Resident,
    *,
    service: str,
    planned: int,
    delivered: int,
    funding: str = "public",
) -> None:
    order = await make_order(session, resident, service_code=service, units=planned)
    oid = order.id
    assert oid is not None and provider.id is not None
    await orders.screen(session, order_id=oid, actor=DESK)
    if funding != "public":
        desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
        await entitlements.choose_funding(
            session, order_id=oid, access=desk, funding=funding, consent_note="본인이 전화로 초과분 부담에 동의함"
        )
    assignment = await orders.assign(session, order_id=oid, provider_id=provider.id, actor=DESK)
    actor = provider_tasks.actor_for(provider, channel="telegram")
    await provider_tasks.accept(session, provider_id=provider.id, assignment_id=assignment.id, actor=actor)  # type: ignore[arg-type]
    await provider_tasks.start(session, provider_id=provider.id, assignment_id=assignment.id, actor=actor)  # type: ignore[arg-type]
    await provider_tasks.complete(
        session,
        provider_id=provider.id,
        assignment_id=assignment.id,
        delivered_units=delivered,
        note=None,
        actor=actor,  # type: ignore[arg-type]
    )


async def test_completion_with_fewer_units_is_paid_for_the_delivered_units(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    provider = await make_provider(session, place, name="마포밥상협동조합")
    resident = await make_resident(session, place, income_tier="basic")
    await deliver(session, place, provider, resident, service="meals", planned=20, delivered=18)
    [month] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
    assert (month.provider_name, month.units, month.total, month.public, month.resident) == (
        "마포밥상협동조합",
        18,
        18 * 7_200,
        18 * 7_200,
        0,
    )
    assert await settlement.monthly(session, district_id=place.district_id, year=2026, month=12) == []


async def test_general_residents_pay_and_the_annual_limit_splits(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 10, 10, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    meals = await make_provider(session, place, name="가 협동조합")
    care = await make_provider(session, place, name="나 사회적기업", services=("home_care", "short_stay"))
    general = await make_resident(session, place, income_tier="general")
    supported = await make_resident(session, place, income_tier="near_poor")
    # October: 20 home-care units (46,130 each = 922,600) use most of the 1,520,000 limit.
    await deliver(session, place, care, supported, service="home_care", planned=20, delivered=20)
    clock.set_now(NOW)
    # November: 14 short-stay days are 779,940; only 597,400 of the limit is left: the desk records
    # that the resident pays the excess (never silent).
    await deliver(session, place, care, supported, service="short_stay", planned=14, delivered=14, funding="pay_excess")
    await deliver(session, place, meals, general, service="meals", planned=10, delivered=10)
    by_name = {
        s.provider_name: s
        for s in await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
    }
    assert (by_name["가 협동조합"].total, by_name["가 협동조합"].public, by_name["가 협동조합"].resident) == (
        72_000,
        0,
        72_000,
    )
    care_month = by_name["나 사회적기업"]
    assert care_month.total == 14 * 55_710
    assert care_month.public == 1_520_000 - 20 * 46_130
    assert care_month.resident == care_month.total - care_month.public
    assert all(isinstance(x, int) for x in (care_month.total, care_month.public, care_month.resident))


async def test_the_month_follows_seoul_time(session: AsyncSession) -> None:
    # 2026-11-30 23:30 in Seoul is still November although it is 14:30 UTC.
    clock.set_now(datetime(2026, 11, 30, 14, 30, tzinfo=UTC))
    place = await make_district(session)
    provider = await make_provider(session, place)
    await deliver(
        session, place, provider, await make_resident(session, place), service="meals", planned=5, delivered=5
    )
    assert len(await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)) == 1
    clock.set_now(datetime(2026, 11, 30, 15, 30, tzinfo=UTC) + timedelta(minutes=1))
    await deliver(
        session, place, provider, await make_resident(session, place), service="meals", planned=5, delivered=4
    )
    [december] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=12)
    assert december.units == 4


async def test_an_ineligible_basic_recipient_is_billed_in_full_and_an_undecided_one_is_flagged(
    session: AsyncSession,
) -> None:
    # The 40-year-old 수급자 without a disability got 184,520원 of public support before: now none.
    clock.set_now(NOW)
    place = await make_district(session)
    provider = await make_provider(session, place, name="마포돌봄")
    forty = await make_resident(session, place, income_tier="basic", birth_year=1986, decided=False)
    unsure = await make_resident(session, place, income_tier="unknown")
    desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
    assert forty.id is not None
    await entitlements.decide(
        session, resident_id=forty.id, access=desk, eligible=False, ground=None, situations=[],
        income_tier="basic", valid_from=date(2026, 1, 1),
    )  # fmt: skip
    # 4 home-care visits × 46,130 = 184,520, all the resident's.
    await deliver(session, place, provider, forty, service="home_care", planned=4, delivered=4)
    # The undecided person can only be served fully self-paid, with consent: 5 meals = 36,000.
    await deliver(session, place, provider, unsure, service="meals", planned=5, delivered=5, funding="self_paid")
    [month] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
    lines = {line.resident_id: line for line in month.lines}
    assert (lines[forty.id].total, lines[forty.id].public, lines[forty.id].resident) == (184_520, 0, 184_520)
    assert (lines[unsure.id].public, lines[unsure.id].resident) == (0, 36_000)  # type: ignore[index]
    assert set(lines[unsure.id].flags) == {"undecided", "self_paid"}  # type: ignore[index]
    assert (month.total, month.public, month.resident) == (220_520, 0, 220_520)


async def test_the_tier_valid_on_the_service_day_is_used_not_todays(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 9, 10, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    provider = await make_provider(session, place)
    resident = await make_resident(session, place, decided=False)
    desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
    assert resident.id is not None
    await entitlements.decide(
        session, resident_id=resident.id, access=desk, eligible=True, ground="elderly",
        situations=["no_family_care"], income_tier="near_poor", valid_from=date(2026, 1, 1),
        valid_until=date(2026, 9, 30),
    )  # fmt: skip
    await deliver(session, place, provider, resident, service="meals", planned=10, delivered=10)
    clock.set_now(NOW)  # in November the person is verified 일반
    await entitlements.decide(
        session, resident_id=resident.id, access=desk, eligible=True, ground="elderly",
        situations=["no_family_care"], income_tier="general", valid_from=date(2026, 10, 1),
    )  # fmt: skip
    [september] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=9)
    assert (september.public, september.resident) == (72_000, 0)
