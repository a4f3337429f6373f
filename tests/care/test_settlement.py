"""The month's settlement per provider: delivered units × unit price, split public / resident."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements, orders, prices, provider_tasks, settlement, statements, visits
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


async def test_acceptance_fixture_november_and_december_to_the_won(session: AsyncSession) -> None:
    """The issue's fixture, as far as visits, decisions and the ledger go (figures worked by hand).

    - 수급자 A: 30 meals requested for 2026-11-20, visits 11-20..11-30 (11 days, two no-shows on
      11-23 and 11-27 → 9 meals) and 12-01..12-19 (19 meals): November 9 × 7,200 = 64,800 public,
      December 19 × 7,200 = 136,800 public; 28 meals in all (201,600), no-shows never billed.
    - 차상위 B: 20 home-care visits completed in October (20 × 46,130 = 922,600 public), then 14
      short-stay days in November (14 × 55,710 = 779,940): 1,520,000 - 922,600 = 597,400 public,
      182,540 the resident's, with their consent recorded (pay_excess).
    - 일반 C: 10 meals in November = 72,000, all the resident's.
    - undecided D: 5 meals self-paid with consent = 36,000 the resident's, flagged.
    - ineligible 수급자 E (40, no disability): 4 home-care visits = 184,520 the resident's.
    November: total 64,800 + 779,940 + 72,000 + 36,000 + 184,520 = 1,137,260;
    public 64,800 + 597,400 = 662,200; resident 182,540 + 72,000 + 36,000 + 184,520 = 475,060.
    """
    clock.set_now(datetime(2026, 10, 10, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    meals = await make_provider(session, place, name="가 밥상협동조합", services=("meals",))
    care = await make_provider(session, place, name="나 돌봄사회적기업", services=("home_care", "short_stay"))
    desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
    a = await make_resident(session, place, income_tier="basic")
    b = await make_resident(session, place, income_tier="near_poor")
    c = await make_resident(session, place, income_tier="general")
    d = await make_resident(session, place, income_tier="unknown")
    e = await make_resident(session, place, income_tier="basic", birth_year=1986, decided=False)
    assert e.id is not None
    await entitlements.decide(
        session, resident_id=e.id, access=desk, eligible=False, ground=None, situations=[],
        income_tier="basic", valid_from=date(2026, 1, 1),
    )  # fmt: skip
    await deliver(session, place, care, b, service="home_care", planned=20, delivered=20)
    clock.set_now(NOW)  # 2026-11-23
    await deliver(session, place, care, b, service="short_stay", planned=14, delivered=14, funding="pay_excess")
    await deliver(session, place, meals, c, service="meals", planned=10, delivered=10)
    await deliver(session, place, meals, d, service="meals", planned=5, delivered=5, funding="self_paid")
    await deliver(session, place, care, e, service="home_care", planned=4, delivered=4)
    # A's 30 meals, one visit a day.
    clock.set_now(datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    order = await make_order(session, a, service_code="meals", units=30, requested_date=date(2026, 11, 20))
    assert order.id is not None and meals.id is not None
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=meals.id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=meals.id, actor=DESK)
    clock.set_now(datetime(2026, 12, 20, 1, 0, tzinfo=UTC))
    days = [date(2026, 11, n) for n in range(20, 31)] + [date(2026, 12, n) for n in range(1, 20)]
    for day in days:
        no_show = day in (date(2026, 11, 23), date(2026, 11, 27))
        await visits.record(
            session, order_id=order.id, day=day, units=0 if no_show else 1,
            kind="no_show" if no_show else "delivered", reason="이용자 부재" if no_show else None, actor=DESK,
        )  # fmt: skip
    done = await visits.complete_from_visits(session, order_id=order.id, actor=DESK)
    assert done.delivered_units == 28

    nov = {
        p.provider_name: p
        for p in await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
    }
    dec = {
        p.provider_name: p
        for p in await settlement.monthly(session, district_id=place.district_id, year=2026, month=12)
    }
    a_nov = [line for line in nov["가 밥상협동조합"].lines if line.resident_id == a.id]
    a_dec = [line for line in dec["가 밥상협동조합"].lines if line.resident_id == a.id]
    assert (sum(x.units for x in a_nov), sum(x.public for x in a_nov)) == (9, 64_800)
    assert (sum(x.units for x in a_dec), sum(x.public for x in a_dec), sum(x.resident for x in a_dec)) == (
        19,
        136_800,
        0,
    )
    stay = [line for line in nov["나 돌봄사회적기업"].lines if line.resident_id == b.id]
    assert [(x.total, x.public, x.resident, x.flags) for x in stay] == [(779_940, 597_400, 182_540, ("pay_excess",))]
    total = sum(p.total for p in nov.values())
    public = sum(p.public for p in nov.values())
    resident = sum(p.resident for p in nov.values())
    assert (total, public, resident) == (1_137_260, 662_200, 475_060)


async def _meals_with_a_no_show(session: AsyncSession, place: Place, provider: Provider, resident: Resident) -> int:
    """5 meals from 2026-11-20: delivered on the 20th and 22nd, a no-show (무단결석) on the 21st."""
    clock.set_now(datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    order = await make_order(session, resident, service_code="meals", units=5, requested_date=date(2026, 11, 20))
    assert order.id is not None and provider.id is not None
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    clock.set_now(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    for day in (20, 21, 22):
        no_show = day == 21
        await visits.record(
            session, order_id=order.id, day=date(2026, 11, day), units=1, actor=DESK,
            kind="no_show" if no_show else "delivered", reason="연락 없이 부재" if no_show else None,
        )  # fmt: skip
    return order.id


async def test_a_no_show_is_billed_only_by_the_catalogs_rule_of_the_service_year(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    provider = await make_provider(session, place, name="마포밥상협동조합", services=("meals",))
    basic = await make_resident(session, place, income_tier="basic")
    general = await make_resident(session, place, income_tier="general")
    await _meals_with_a_no_show(session, place, provider, basic)
    await _meals_with_a_no_show(session, place, provider, general)

    async def november() -> list[tuple[int, str, int, int, int, int, tuple[str, ...]]]:
        [month] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
        return sorted((x.resident_id, x.day.isoformat(), x.units, x.total, x.public, x.resident, x.flags)
                      for x in month.lines)  # fmt: skip

    # No rule (the default): the no-show is not billed, 2 meals each.
    plain = [
        (basic.id, "2026-11-20", 1, 7_200, 7_200, 0, ()),
        (basic.id, "2026-11-22", 1, 7_200, 7_200, 0, ()),
        (general.id, "2026-11-20", 1, 7_200, 0, 7_200, ()),
        (general.id, "2026-11-22", 1, 7_200, 0, 7_200, ()),
    ]
    assert await november() == sorted(plain)
    # A rule for 2025 does not reach a 2026 no-show.
    await prices.create_defaults(session, district_id=place.district_id, year=2025)
    await prices.create_defaults(session, district_id=place.district_id, year=2026)
    row_2025, row_2026 = [
        next(r for r in await prices.list_catalog(session, district_id=place.district_id, year=y) if r.code == "meals")
        for y in (2025, 2026)
    ]
    assert row_2025.id is not None and row_2026.id is not None
    await prices.update_entry(
        session, entry_id=row_2025.id, unit_price=7_000, cap_units=30, active=True, no_show_units=1
    )
    assert await november() == sorted(plain)
    # 2026's rule: a no-show bills 1 meal, on a line flagged no_show, split as any other line.
    await prices.update_entry(
        session, entry_id=row_2026.id, unit_price=7_200, cap_units=30, active=True, no_show_units=1
    )
    assert await november() == sorted(
        [
            *plain,
            (basic.id, "2026-11-21", 1, 7_200, 7_200, 0, ("no_show",)),
            (general.id, "2026-11-21", 1, 7_200, 0, 7_200, ("no_show",)),
        ]
    )
    # The resident's co-payment statement names the billed no-show.
    desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
    assert general.id is not None
    statement = await statements.get(session, access=desk, resident_id=general.id, year=2026, month=11)
    assert [(x.day.day, x.no_show, x.resident) for x in statement.lines] == [(20, False, 7_200), (21, True, 7_200),
                                                                            (22, False, 7_200)]  # fmt: skip


async def test_a_billed_no_show_takes_from_the_residents_year_as_the_settlement_bills_it(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    provider = await make_provider(session, place, name="마포밥상협동조합", services=("meals",))
    without_rule = await make_resident(session, place, income_tier="basic")
    with_rule = await make_resident(session, place, income_tier="basic")
    first = await _meals_with_a_no_show(session, place, provider, without_rule)
    await visits.complete_from_visits(session, order_id=first, actor=DESK)
    entry = await entitlements.get_entry(session, order_id=first)
    assert entry is not None and (entry.units, entry.public_amount) == (2, 14_400)  # 2 meals × 7,200

    await prices.create_defaults(session, district_id=place.district_id, year=2026)
    [meals] = [
        r for r in await prices.list_catalog(session, district_id=place.district_id, year=2026) if r.code == "meals"
    ]
    assert meals.id is not None
    await prices.update_entry(session, entry_id=meals.id, unit_price=7_200, cap_units=30, active=True, no_show_units=1)
    second = await _meals_with_a_no_show(session, place, provider, with_rule)
    await visits.complete_from_visits(session, order_id=second, actor=DESK)
    entry = await entitlements.get_entry(session, order_id=second)
    # 2 meals delivered + 1 no-show billed by the rule = 3 units, 21,600원 of public support,
    # the same as the month's lines for that resident.
    assert entry is not None and (entry.units, entry.public_amount) == (3, 21_600)
    [month] = await settlement.monthly(session, district_id=place.district_id, year=2026, month=11)
    assert sum(x.public for x in month.lines if x.resident_id == with_rule.id) == 21_600
