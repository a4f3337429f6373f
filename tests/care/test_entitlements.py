"""Entitlements: the desk's eligibility decision, 만 나이, and the yearly ledger of caps and support.

Figures (seed 001 defaults): meals 7,200원 a meal, cap 30 a year; home care 46,130원 per 3 hours,
cap 20 visits; annual public support 1,520,000원 a person.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements, orders, prices
from care.auth import Access
from care.entitlements import Support, age_on
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, RuleViolation
from storage.db import Database
from storage.models import EntitlementEntry, Order, ServiceCatalog
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident
from tests.storage.pausing import Pause, first_write_or_lock

NOV = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def desk(place: Place | int) -> Access:
    district_id = place if isinstance(place, int) else place.district_id
    return Access(operator_id=None, username=DESK.name, ip=None, district_id=district_id, role="operator")


# ---------------------------------------------------------------- 만 나이


def test_age_is_one_less_on_the_day_before_the_birthday() -> None:
    born = date(1961, 12, 2)
    assert age_on(day=date(2026, 12, 1), birth_date=born, birth_year=1961) == entitlements.Age(64, False)


def test_age_counts_the_year_on_the_birthday_itself() -> None:
    born = date(1961, 12, 2)
    assert age_on(day=date(2026, 12, 2), birth_date=born, birth_year=1961) == entitlements.Age(65, False)


def test_a_leap_day_birth_turns_a_year_older_on_1_march_in_a_common_year() -> None:
    born = date(1960, 2, 29)
    assert age_on(day=date(2025, 2, 28), birth_date=born, birth_year=None).years == 64
    assert age_on(day=date(2025, 3, 1), birth_date=born, birth_year=None).years == 65  # type: ignore[union-attr]


def test_a_leap_day_birth_turns_a_year_older_on_29_february_in_a_leap_year() -> None:
    born = date(1960, 2, 29)
    assert age_on(day=date(2024, 2, 28), birth_date=born, birth_year=None).years == 63  # type: ignore[union-attr]
    assert age_on(day=date(2024, 2, 29), birth_date=born, birth_year=None).years == 64  # type: ignore[union-attr]


def test_birth_year_alone_gives_an_approximate_age_and_nothing_gives_none() -> None:
    assert age_on(day=date(2026, 1, 5), birth_date=None, birth_year=1961) == entitlements.Age(65, True)
    assert age_on(day=date(2026, 1, 5), birth_date=None, birth_year=None) is None


# ---------------------------------------------------------------- the decision


async def screened(
    session: AsyncSession, resident: Any, *, service: str = "meals", units: int = 10, **kw: Any
) -> Order:
    order = await make_order(session, resident, service_code=service, units=units, **kw)
    assert order.id is not None
    return await orders.screen(session, order_id=order.id, actor=DESK)


async def test_an_undecided_resident_cannot_be_assigned_with_public_support(session: AsyncSession) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    provider = await make_provider(session, place)
    resident = await make_resident(session, place, income_tier="unknown")  # "잘 모르겠어요"
    order = await screened(session, resident)
    p = await entitlements.preview(session, order=order)
    assert (p.support, p.public, p.resident) == (Support.UNDECIDED, 0, 72_000)
    assert p.blocker is not None
    with pytest.raises(RuleViolation):
        await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    card = await entitlements.for_resident(session, resident=resident)
    assert card.income_unverified and card.support is Support.UNDECIDED


async def test_self_payment_needs_consent_and_then_the_undecided_resident_can_be_assigned(
    session: AsyncSession,
) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    provider = await make_provider(session, place)
    resident = await make_resident(session, place, income_tier="unknown")
    order = await screened(session, resident)
    assert order.id is not None
    with pytest.raises(InvalidInput):
        await entitlements.choose_funding(
            session, order_id=order.id, access=desk(place), funding="self_paid", consent_note="  "
        )
    await entitlements.choose_funding(
        session, order_id=order.id, access=desk(place), funding="self_paid", consent_note="본인이 전화로 동의함"
    )
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    entry = await entitlements.get_entry(session, order_id=order.id)
    assert entry is not None
    # 10 meals × 7,200 = 72,000, all the resident's.
    assert (entry.status, entry.units, entry.public_amount, entry.resident_amount) == ("reserved", 10, 0, 72_000)
    assert entry.consent_at is not None and entry.consent_by == DESK.name


async def test_an_ineligible_basic_recipient_gets_no_public_support(session: AsyncSession) -> None:
    # The 40-year-old 수급자 without a disability: the desk decides "not eligible".
    clock.set_now(NOV)
    place = await make_district(session)
    resident = await make_resident(session, place, income_tier="basic", birth_year=1986, decided=False)
    assert resident.id is not None
    await entitlements.decide(
        session,
        resident_id=resident.id,
        access=desk(place),
        eligible=False,
        ground=None,
        situations=[],
        income_tier="basic",
        valid_from=date(2026, 1, 1),
    )
    order = await screened(session, resident, units=5)
    p = await entitlements.preview(session, order=order)
    assert (p.support, p.total, p.public, p.resident, p.blocker) == (Support.NOT_SUPPORTED, 36_000, 0, 36_000, None)


async def test_eligible_general_pays_in_full_and_near_poor_is_supported(session: AsyncSession) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    general = await make_resident(session, place, income_tier="general")
    near_poor = await make_resident(session, place, income_tier="near_poor")
    g = await entitlements.preview(session, order=await screened(session, general, units=30))
    n = await entitlements.preview(session, order=await screened(session, near_poor, units=30))
    assert (g.public, g.resident) == (0, 216_000)
    assert (n.public, n.resident) == (216_000, 0)


async def test_an_eligible_decision_needs_a_ground_a_situation_and_a_verified_tier(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place, decided=False)
    assert resident.id is not None
    base: dict[str, Any] = {
        "resident_id": resident.id,
        "access": desk(place),
        "eligible": True,
        "ground": "elderly",
        "situations": ["no_family_care"],
        "income_tier": "basic",
        "valid_from": date(2026, 1, 1),
    }
    for bad in ({"ground": None}, {"situations": []}, {"income_tier": "unknown"}, {"valid_until": date(2025, 1, 1)}):
        with pytest.raises(InvalidInput):
            await entitlements.decide(session, **{**base, **bad})


async def test_another_districts_operator_cannot_decide(session: AsyncSession) -> None:
    place = await make_district(session)
    other = await make_district(session, name="서대문구")
    resident = await make_resident(session, place, decided=False)
    assert resident.id is not None
    with pytest.raises(NotFound):
        await entitlements.decide(
            session,
            resident_id=resident.id,
            access=desk(other),
            eligible=False,
            ground=None,
            situations=[],
            income_tier="general",
            valid_from=date(2026, 1, 1),
        )


async def test_the_decision_valid_on_the_service_day_counts_and_history_is_kept(session: AsyncSession) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    resident = await make_resident(session, place, decided=False)
    assert resident.id is not None
    common: dict[str, Any] = {"resident_id": resident.id, "access": desk(place), "ground": "elderly"}
    await entitlements.decide(
        session, **common, eligible=True, situations=["no_family_care"], income_tier="near_poor",
        valid_from=date(2026, 1, 1), valid_until=date(2026, 9, 30),
    )  # fmt: skip
    await entitlements.decide(
        session, **common, eligible=True, situations=["no_family_care"], income_tier="general",
        valid_from=date(2026, 10, 1),
    )  # fmt: skip
    september = await screened(session, resident, units=5, requested_date=date(2026, 9, 15))
    november = await screened(session, resident, units=5, requested_date=date(2026, 11, 15))
    assert (await entitlements.preview(session, order=september)).public == 36_000
    assert (await entitlements.preview(session, order=november)).public == 0
    assert len(await entitlements.list_decisions(session, resident_id=resident.id)) == 2


# ---------------------------------------------------------------- the yearly ledger


async def deliver(session: AsyncSession, order: Order, provider_id: int, units: int) -> Order:
    assert order.id is not None
    await orders.assign(session, order_id=order.id, provider_id=provider_id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=provider_id, actor=DESK)
    await orders.start(session, order_id=order.id, actor=DESK)
    return await orders.complete(session, order_id=order.id, delivered_units=units, actor=DESK)


async def test_thirty_meals_in_2025_leave_all_thirty_for_2026(session: AsyncSession) -> None:
    clock.set_now(datetime(2025, 11, 3, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    provider = await make_provider(session, place)
    assert provider.id is not None
    resident = await make_resident(session, place)
    await deliver(session, await screened(session, resident, units=30), provider.id, 30)
    clock.set_now(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    order = await screened(session, resident, units=30)
    p = await entitlements.preview(session, order=order)
    assert (p.year, p.cap, p.cap_left, p.limit_left, p.public) == (2026, 30, 30, 1_520_000, 216_000)
    done = await deliver(session, order, provider.id, 30)
    assert done.status == "done"


async def test_a_visit_on_new_years_eve_is_priced_at_that_years_price(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 1, 2, 1, 0, tzinfo=UTC))  # completed in January 2026
    place = await make_district(session)
    for year, price in ((2025, 7_000), (2026, 7_500)):
        await prices.create_defaults(session, district_id=place.district_id, year=year)
        row = (
            await session.execute(
                select(ServiceCatalog).where(
                    ServiceCatalog.district_id == place.district_id,
                    ServiceCatalog.year == year,
                    ServiceCatalog.code == "meals",
                )
            )
        ).scalar_one()
        row.unit_price = price
    await session.flush()
    provider = await make_provider(session, place)
    assert provider.id is not None
    resident = await make_resident(session, place, income_tier="general")
    order = await screened(session, resident, units=1, requested_date=date(2025, 12, 31))
    await deliver(session, order, provider.id, 1)
    entry = await entitlements.get_entry(session, order_id=order.id)  # type: ignore[arg-type]
    assert entry is not None and (entry.year, entry.resident_amount) == (2025, 7_000)


async def test_the_order_page_line_shows_what_is_left_and_the_expected_split(session: AsyncSession) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    provider = await make_provider(session, place, services=("meals", "home_care"))
    assert provider.id is not None
    resident = await make_resident(session, place)
    # 18 meals delivered: 12 of 30 left, 129,600 public. 20 home-care visits: 922,600 public.
    # Limit left: 1,520,000 - 129,600 - 922,600 = 467,800.
    await deliver(session, await screened(session, resident, units=18), provider.id, 18)
    await deliver(session, await screened(session, resident, service="home_care", units=20), provider.id, 20)
    order = await screened(session, resident, units=12)
    p, line = await entitlements.order_summary(session, order=order)
    # 12 × 7,200 = 86,400 public, nothing for the resident.
    assert (p.cap_left, p.limit_left, p.public, p.resident) == (12, 467_800, 86_400, 0)
    assert "467,800" in line and "1,520,000" in line and "86,400" in line


async def test_passing_the_annual_limit_needs_the_desks_decision_and_the_resident_pays_the_excess(
    session: AsyncSession,
) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    provider = await make_provider(session, place, services=("home_care", "short_stay"))
    assert provider.id is not None
    resident = await make_resident(session, place)
    await deliver(session, await screened(session, resident, service="home_care", units=20), provider.id, 20)
    # 14 short-stay days = 779,940; 1,520,000 - 922,600 = 597,400 left; the excess is 182,540.
    stay = await screened(session, resident, service="short_stay", units=14)
    assert stay.id is not None
    with pytest.raises(RuleViolation):
        await orders.assign(session, order_id=stay.id, provider_id=provider.id, actor=DESK)
    await entitlements.choose_funding(
        session, order_id=stay.id, access=desk(place), funding="pay_excess", consent_note="딸과 통화, 초과분 본인 부담"
    )
    await deliver(session, stay, provider.id, 14)
    entry = await entitlements.get_entry(session, order_id=stay.id)
    assert entry is not None
    assert (entry.status, entry.public_amount, entry.resident_amount) == ("settled", 597_400, 182_540)


async def test_cancelling_releases_the_reserved_units(session: AsyncSession) -> None:
    clock.set_now(NOV)
    place = await make_district(session)
    provider = await make_provider(session, place)
    assert provider.id is not None
    resident = await make_resident(session, place)
    first = await screened(session, resident, units=30)
    assert first.id is not None
    await orders.assign(session, order_id=first.id, provider_id=provider.id, actor=DESK)
    second = await screened(session, resident, units=10)
    assert (await entitlements.preview(session, order=second)).cap_left == 0
    await orders.cancel(session, order_id=first.id, reason="본인 요청", actor=DESK)
    assert (await entitlements.preview(session, order=second)).cap_left == 30
    entry = await entitlements.get_entry(session, order_id=first.id)
    assert entry is not None and (entry.status, entry.units) == ("released", 0)


async def test_two_assignments_for_one_resident_at_once_cannot_both_take_the_last_units(db: Database) -> None:
    clock.set_now(NOV)
    async with db.transaction() as s:
        place = await make_district(s)
        provider = await make_provider(s, place)
        resident = await make_resident(s, place)
        first = await screened(s, resident, units=20)
        second = await screened(s, resident, units=20)
        provider_id = provider.id
    both = asyncio.Barrier(2)

    async def assign(order: Order) -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                return await orders.assign(s, order_id=order.id, provider_id=provider_id, actor=DESK)  # type: ignore[arg-type]
        except Exception as exc:  # the loser's refusal is the outcome checked
            return exc

    results = await asyncio.gather(assign(first), assign(second))
    assert sorted(type(r).__name__ for r in results) == ["Assignment", "RuleViolation"], results
    async with db.sessions() as s:
        held = (await s.execute(select(EntitlementEntry).where(EntitlementEntry.status == "reserved"))).scalars().all()
        assert [e.units for e in held] == [20]
