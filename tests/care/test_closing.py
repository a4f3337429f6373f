"""마감 and after: a closed month never changes, corrections are adjustment lines, statements, payments, refunds.

Figures (seed 001 defaults): meals 7,200원, home care 46,130원 a 3-hour visit, short stay
55,710원 a day (cap 14), annual public support 1,520,000원 a person.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import closing, entitlements, months, orders, prices, settlement, statements, visits
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, RuleViolation
from storage.db import Database
from storage.models import (
    AccessLog,
    Order,
    Provider,
    Resident,
    ServiceCatalog,
    SettlementClose,
    SettlementClosedLine,
    Visit,
)
from tests.care.test_settlement import deliver
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident
from tests.storage.pausing import Pause, first_write_or_lock


def desk(place: Place) -> Access:
    return Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")


@dataclass
class Acceptance:
    place: Place
    meals: Provider
    care: Provider
    a: Resident  # 수급자, 30 meals over November and December, two no-shows
    b: Resident  # 차상위, home care in October, short stay over the annual limit in November (pays the excess)
    c: Resident  # 일반
    d: Resident  # undecided, self-paid with consent
    e: Resident  # ineligible 수급자 (40, no disability)
    a_order: Order
    b_stay: Order


async def acceptance(session: AsyncSession, place: Place | None = None) -> Acceptance:
    """Build the issue's fixture up to the end of November (visits of A recorded on 2026-12-01)."""
    clock.set_now(datetime(2026, 10, 10, 1, 0, tzinfo=UTC))
    place = place or await make_district(session)
    meals = await make_provider(session, place, name="가 밥상협동조합", services=("meals",))
    care = await make_provider(session, place, name="나 돌봄사회적기업", services=("home_care", "short_stay"))
    a = await make_resident(session, place, income_tier="basic")
    b = await make_resident(session, place, income_tier="near_poor")
    c = await make_resident(session, place, income_tier="general")
    d = await make_resident(session, place, income_tier="unknown")
    e = await make_resident(session, place, income_tier="basic", birth_year=1986, decided=False)
    assert e.id is not None
    await entitlements.decide(
        session, resident_id=e.id, access=desk(place), eligible=False, ground=None, situations=[],
        income_tier="basic", valid_from=date(2026, 1, 1),
    )  # fmt: skip
    await deliver(session, place, care, b, service="home_care", planned=20, delivered=20)
    clock.set_now(datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    a_order = await make_order(session, a, service_code="meals", units=30, requested_date=date(2026, 11, 20))
    assert a_order.id is not None and meals.id is not None
    await orders.screen(session, order_id=a_order.id, actor=DESK)
    await orders.assign(session, order_id=a_order.id, provider_id=meals.id, actor=DESK)
    await orders.accept(session, order_id=a_order.id, provider_id=meals.id, actor=DESK)
    clock.set_now(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    await deliver(session, place, care, b, service="short_stay", planned=14, delivered=14, funding="pay_excess")
    await deliver(session, place, meals, c, service="meals", planned=10, delivered=10)
    await deliver(session, place, meals, d, service="meals", planned=5, delivered=5, funding="self_paid")
    await deliver(session, place, care, e, service="home_care", planned=4, delivered=4)
    b_stay = (
        await session.execute(select(Order).where(Order.resident_id == b.id, Order.service_code == "short_stay"))
    ).scalar_one()
    clock.set_now(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    for n in range(20, 31):
        no_show = n in (23, 27)
        await visits.record(
            session, order_id=a_order.id, day=date(2026, 11, n), units=1, kind="no_show" if no_show else "delivered",
            reason="이용자 부재" if no_show else None, actor=DESK,
        )  # fmt: skip
    return Acceptance(place, meals, care, a, b, c, d, e, a_order, b_stay)


def sums(providers: list[settlement.ProviderSettlement]) -> tuple[int, int, int]:
    return (sum(p.total for p in providers), sum(p.public for p in providers), sum(p.resident for p in providers))


async def test_acceptance_close_november_correct_it_in_december_statements_payments_and_refund(
    session: AsyncSession,
) -> None:
    """Every figure by hand.

    November (as in tests/care/test_settlement.py): A 9 meals = 64,800 public (no-shows 11-23,
    11-27 not billed); B 14 short-stay days = 779,940: 597,400 public (1,520,000 - 922,600 of
    October's home care), 182,540 B's; C 72,000 C's; D 36,000 D's (undecided, self-paid);
    E 184,520 E's. Total 1,137,260 = public 662,200 + residents 475,060. Closed on 12-02.

    Corrections on 12-03, after the close: A's meal of 11-26 was not delivered (a no-show):
    -1 meal, -7,200 public; B stayed 13 days, not 14: 13 × 55,710 = 724,230, public still
    597,400, B's part 126,830 instead of 182,540: -55,710 B's. Both are adjustment lines in
    December referring to November; November stays 1,137,260 / 662,200 / 475,060.

    December: A's meals 12-01..12-19 = 19 × 7,200 = 136,800 public. With the adjustments:
    total 136,800 - 7,200 - 55,710 = 73,890; public 136,800 - 7,200 = 129,600; residents -55,710.

    Statements of November (residents with a co-payment): B 182,540 paid on 11-30 (paid);
    C 72,000, 50,000 paid in cash (partly paid, 22,000 left); D 36,000 and E 184,520 unpaid;
    A has none (all public). December: B is owed 55,710 back (refund due) until the refund
    of 55,710 with its reason (paid).
    """
    w = await acceptance(session)
    district = w.place.district_id
    nov = await settlement.monthly(session, district_id=district, year=2026, month=11)
    assert sums(nov) == (1_137_260, 662_200, 475_060)
    # Per service: meals A 64,800 + C 72,000 + D 36,000 = 172,800 (9 + 10 + 5 = 24 meals), 64,800 public;
    # short stay 779,940 (597,400 public); home care (E) 184,520. Everyone lives in 1-1동 of 1권역.
    by = await settlement.breakdown(session, nov)
    assert [(x.key, x.units, x.total, x.public, x.resident) for x in by["service"]] == [
        ("home_care", 4, 184_520, 0, 184_520),
        ("meals", 24, 172_800, 64_800, 108_000),
        ("short_stay", 14, 779_940, 597_400, 182_540),
    ]
    assert [(x.key, x.total, x.public) for x in by["dong"]] == [("1-1동", 1_137_260, 662_200)]
    assert [(x.key, x.total, x.resident) for x in by["region"]] == [("1권역", 1_137_260, 475_060)]
    # B pays November's part by transfer before the close.
    assert w.b.id and w.c.id and w.a.id and w.a_order.id and w.b_stay.id
    await statements.record(
        session, access=desk(w.place), resident_id=w.b.id, year=2026, month=11, kind="payment",
        day=date(2026, 11, 30), amount=182_540, method="transfer",
    )  # fmt: skip

    clock.set_now(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    closed = await closing.close(session, access=desk(w.place), year=2026, month=11)
    assert (closed.total, closed.public, closed.resident) == (1_137_260, 662_200, 475_060)
    with pytest.raises(closing.AlreadyClosed):
        await closing.close(session, access=desk(w.place), year=2026, month=11)
    # A closed month takes no new visit.
    with pytest.raises(months.MonthClosed) as refused:
        await visits.record(
            session, order_id=w.a_order.id, day=date(2026, 11, 30), units=1, kind="delivered", actor=DESK
        )
    assert refused.value.params == {"month": "2026-11"}

    clock.set_now(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    meal_26 = (
        await session.execute(select(Visit).where(Visit.order_id == w.a_order.id, Visit.day == date(2026, 11, 26)))
    ).scalar_one()
    assert meal_26.id is not None
    a_fix = await closing.correct_visit(
        session, visit_id=meal_26.id, access=desk(w.place), kind="no_show", units=0, reason="입원으로 부재, 기관 정정"
    )
    assert [(x.year, x.month, x.original_month, x.units, x.total, x.public, x.resident) for x in a_fix.adjustments] == [
        (2026, 12, 11, -1, -7_200, -7_200, 0)
    ]
    assert a_fix.adjustments[0].visit_id == meal_26.id and a_fix.adjustments[0].day == date(2026, 12, 3)
    assert (meal_26.original_kind, meal_26.original_units, meal_26.kind, meal_26.units) == (
        "delivered", 1, "no_show", 0
    )  # fmt: skip
    b_fix = await closing.correct_order_units(
        session, order_id=w.b_stay.id, access=desk(w.place), delivered_units=13, reason="퇴소일 착오, 13일 이용"
    )
    assert [(x.month, x.units, x.unit_price, x.total, x.public, x.resident) for x in b_fix.adjustments] == [
        (12, -1, 55_710, -55_710, 0, -55_710)
    ]
    # Correcting again to the same figure adds nothing: the difference is already paid.
    again = await closing.correct_order_units(
        session, order_id=w.b_stay.id, access=desk(w.place), delivered_units=13, reason="확인"
    )
    assert again.adjustments == []
    entry = await entitlements.get_entry(session, order_id=w.b_stay.id)
    assert entry is not None and (entry.units, entry.public_amount, entry.resident_amount) == (13, 597_400, 126_830)

    # November never changes.
    assert sums(await settlement.monthly(session, district_id=district, year=2026, month=11)) == (
        1_137_260, 662_200, 475_060
    )  # fmt: skip
    assert sums(await settlement.compute(session, district_id=district, year=2026, month=11)) == (
        1_137_260 - 7_200 - 55_710, 662_200 - 7_200, 475_060 - 55_710
    )  # fmt: skip

    # December: A's 19 meals, then completion.
    clock.set_now(datetime(2026, 12, 20, 1, 0, tzinfo=UTC))
    for n in range(1, 20):
        await visits.record(
            session, order_id=w.a_order.id, day=date(2026, 12, n), units=1, kind="delivered", actor=DESK
        )
    done = await visits.complete_from_visits(session, order_id=w.a_order.id, actor=DESK)
    assert done.delivered_units == 8 + 19
    dec = await settlement.monthly(session, district_id=district, year=2026, month=12)
    assert sums(dec) == (73_890, 129_600, -55_710)
    by_name = {p.provider_name: p for p in dec}
    assert (by_name["가 밥상협동조합"].units, by_name["가 밥상협동조합"].public) == (19 - 1, 136_800 - 7_200)
    assert [(a.original_month, a.receipt_no, a.reason) for a in by_name["나 돌봄사회적기업"].adjustments] == [
        ("2026-11", w.b_stay.receipt_no, "퇴소일 착오, 13일 이용")
    ]
    data = settlement.as_json(dec, year=2026, month=12)
    assert (data["closed"], data["adjustments_total"], data["adjustments_public"], data["adjustments_resident"]) == (
        False, -62_910, -7_200, -55_710
    )  # fmt: skip

    # Statements and payments.
    await statements.record(
        session, access=desk(w.place), resident_id=w.c.id, year=2026, month=11, kind="payment",
        day=date(2026, 12, 5), amount=50_000, method="cash",
    )  # fmt: skip
    listed = await statements.for_month(session, access=desk(w.place), year=2026, month=11)
    november = {s.resident.id: s for s in listed}
    assert w.a.id not in november
    assert {rid: (s.due, s.paid, s.balance, s.state) for rid, s in november.items()} == {
        w.b.id: (182_540, 182_540, 0, "paid"),
        w.c.id: (72_000, 50_000, 22_000, "partly_paid"),
        w.d.id: (36_000, 0, 36_000, "unpaid"),
        w.e.id: (184_520, 0, 184_520, "unpaid"),
    }
    assert [(x.day, x.units, x.total, x.public, x.resident) for x in november[w.b.id].lines] == [
        (date(2026, 11, 23), 14, 779_940, 597_400, 182_540)
    ]
    december = await statements.get(session, access=desk(w.place), resident_id=w.b.id, year=2026, month=12)
    assert (december.due, december.balance, december.state) == (-55_710, -55_710, "refund_due")
    with pytest.raises(RuleViolation):  # more than is owed back
        await statements.record(
            session, access=desk(w.place), resident_id=w.b.id, year=2026, month=12, kind="refund",
            day=date(2026, 12, 20), amount=55_711, method="transfer", reason="정정분 환급",
        )  # fmt: skip
    with pytest.raises(InvalidInput):  # a refund needs its reason
        await statements.record(
            session, access=desk(w.place), resident_id=w.b.id, year=2026, month=12, kind="refund",
            day=date(2026, 12, 20), amount=55_710, method="transfer", reason=" ",
        )  # fmt: skip
    await statements.record(
        session, access=desk(w.place), resident_id=w.b.id, year=2026, month=12, kind="refund",
        day=date(2026, 12, 20), amount=55_710, method="transfer", reason="11월 단기시설 1일 정정분 환급",
    )  # fmt: skip
    december = await statements.get(session, access=desk(w.place), resident_id=w.b.id, year=2026, month=12)
    assert (december.due, december.refunded, december.balance, december.state) == (-55_710, 55_710, 0, "paid")
    logged = set((await session.execute(select(AccessLog.action))).scalars())
    assert {"settlement_close", "visit_correct", "order_units_correct", "copay_payment", "copay_refund"} <= logged
    assert {"statement_list", "statement_view"} <= logged


async def test_a_correction_of_an_open_month_changes_it_in_place_without_adjustments(session: AsyncSession) -> None:
    w = await acceptance(session)
    visit = (
        await session.execute(select(Visit).where(Visit.order_id == w.a_order.id, Visit.day == date(2026, 11, 26)))
    ).scalar_one()
    assert visit.id is not None
    fixed = await closing.correct_visit(
        session, visit_id=visit.id, access=desk(w.place), kind="no_show", units=0, reason="기관 정정"
    )
    assert fixed.adjustments == []
    nov = await settlement.monthly(session, district_id=w.place.district_id, year=2026, month=11)
    assert sums(nov) == (1_137_260 - 7_200, 662_200 - 7_200, 475_060)


async def test_a_month_is_closed_only_after_it_ended_and_only_by_its_district(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    other = await make_district(session, name="은평구")
    with pytest.raises(RuleViolation):
        await closing.close(session, access=desk(place), year=2026, month=11)
    clock.set_now(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    await closing.close(session, access=desk(place), year=2026, month=11)
    # The other district's November is still open.
    assert await months.get_close(session, district_id=other.district_id, year=2026, month=11) is None
    resident = await make_resident(session, place)
    assert resident.id is not None
    with pytest.raises(OutOfDistrict):
        await statements.get(session, access=desk(other), resident_id=resident.id, year=2026, month=11)
    with pytest.raises(OutOfDistrict):
        await statements.record(
            session, access=desk(other), resident_id=resident.id, year=2026, month=11, kind="payment",
            day=date(2026, 11, 30), amount=1_000, method="cash",
        )  # fmt: skip


async def test_two_operators_closing_at_once_close_once(db: Database) -> None:
    clock.set_now(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    async with db.transaction() as s:
        place = await make_district(s)
        provider = await make_provider(s, place)
        await deliver(s, place, provider, await make_resident(s, place), service="meals", planned=5, delivered=5)
    clock.set_now(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    both = asyncio.Barrier(2)

    pauses: list[Pause] = []

    async def close() -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        pauses.append(pause)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                return await closing.close(s, access=desk(place), year=2026, month=11)
        except Exception as exc:  # the loser's refusal is the outcome checked
            return exc

    results = await asyncio.gather(close(), close())
    assert sorted(type(r).__name__ for r in results) == ["AlreadyClosed", "SettlementClose"], results
    assert all(p.happened for p in pauses)
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(SettlementClose))).scalar_one() == 1
        lines = (await s.execute(select(SettlementClosedLine))).scalars().all()
        assert [(x.units, x.total, x.public) for x in lines] == [(5, 36_000, 36_000)]


async def test_a_visit_racing_the_close_is_in_the_closed_month_or_refused(db: Database) -> None:
    clock.set_now(datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    async with db.transaction() as s:
        place = await make_district(s)
        provider = await make_provider(s, place)
        resident = await make_resident(s, place)
        order = await make_order(s, resident, service_code="meals", units=10)
        assert order.id is not None and provider.id is not None
        await orders.screen(s, order_id=order.id, actor=DESK)
        await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)
        await orders.accept(s, order_id=order.id, provider_id=provider.id, actor=DESK)
        order_id = order.id
    clock.set_now(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    both = asyncio.Barrier(2)

    pauses: list[Pause] = []

    async def run(work: Any) -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        pauses.append(pause)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                return await work(s)
        except Exception as exc:
            return exc

    async def record(s: AsyncSession) -> Any:
        return await visits.record(s, order_id=order_id, day=date(2026, 11, 30), units=1, kind="delivered", actor=DESK)

    async def close(s: AsyncSession) -> Any:
        return await closing.close(s, access=desk(place), year=2026, month=11)

    recorded, closed = await asyncio.gather(run(record), run(close))
    assert isinstance(closed, SettlementClose), closed
    assert all(p.happened for p in pauses)
    async with db.sessions() as s:
        frozen = (await s.execute(select(func.count()).select_from(SettlementClosedLine))).scalar_one()
        kept = (await s.execute(select(func.count()).select_from(Visit))).scalar_one()
    if isinstance(recorded, months.MonthClosed):
        assert (frozen, kept) == (0, 0)
    else:
        assert (frozen, kept) == (1, 1), recorded


async def test_the_year_boundary_in_settlement_new_years_eve_at_its_years_price_and_caps_per_year(
    session: AsyncSession,
) -> None:
    """A 수급자's 30 meals in December 2025 (7,000원 that year: 30 × 7,000 = 210,000 public, the last on
    12-31) leave all 30 for January 2026, priced at 7,500원 (30 × 7,500 = 225,000 public, none capped)."""
    clock.set_now(datetime(2025, 12, 1, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    await prices.create_defaults(session, district_id=place.district_id, year=2026)
    for year, price in ((2025, 7_000), (2026, 7_500)):
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
    resident = await make_resident(session, place)
    assert provider.id is not None
    for first, days in ((date(2025, 12, 2), 30), (date(2026, 1, 2), 30)):
        clock.set_now(datetime(first.year, first.month, 1, 1, 0, tzinfo=UTC))
        order = await make_order(session, resident, service_code="meals", units=30, requested_date=first)
        assert order.id is not None
        await orders.screen(session, order_id=order.id, actor=DESK)
        await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
        await orders.accept(session, order_id=order.id, provider_id=provider.id, actor=DESK)
        clock.set_now(datetime(first.year, first.month, 31, 1, 0, tzinfo=UTC))
        for n in range(days):
            day = date(first.year, first.month, first.day + n)
            await visits.record(session, order_id=order.id, day=day, units=1, kind="delivered", actor=DESK)
        await visits.complete_from_visits(session, order_id=order.id, actor=DESK)
    [december] = await settlement.monthly(session, district_id=place.district_id, year=2025, month=12)
    assert (december.units, december.total, december.public, december.resident) == (30, 210_000, 210_000, 0)
    assert (december.lines[-1].day, december.lines[-1].unit_price) == (date(2025, 12, 31), 7_000)
    [january] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=1)
    assert (january.units, january.total, january.public, january.resident) == (30, 225_000, 225_000, 0)
    assert {line.unit_price for line in january.lines} == {7_500}


async def test_two_operators_correcting_one_closed_order_at_once_adjust_it_once(db: Database) -> None:
    """일반 10 meals in November (72,000 the resident's), closed; both correct to 9: one -7,200 line."""
    clock.set_now(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    async with db.transaction() as s:
        place = await make_district(s)
        provider = await make_provider(s, place)
        resident = await make_resident(s, place, income_tier="general")
        await deliver(s, place, provider, resident, service="meals", planned=10, delivered=10)
        order_id = (await s.execute(select(Order.id).where(Order.resident_id == resident.id))).scalar_one()
    clock.set_now(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    async with db.transaction() as s:
        await closing.close(s, access=desk(place), year=2026, month=11)
    both = asyncio.Barrier(2)
    pauses: list[Pause] = []

    async def correct() -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        pauses.append(pause)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                fixed = await closing.correct_order_units(
                    s, order_id=order_id, access=desk(place), delivered_units=9, reason="1식 미배달"
                )
                return len(fixed.adjustments)
        except Exception as exc:
            return exc

    results = await asyncio.gather(correct(), correct())
    assert sorted(results) == [0, 1], results
    assert all(p.happened for p in pauses)
    async with db.sessions() as s:
        [december] = await settlement.monthly(s, district_id=place.district_id, year=2026, month=12)
        assert [(a.units, a.total, a.public, a.resident) for a in december.adjustments] == [(-1, -7_200, 0, -7_200)]
