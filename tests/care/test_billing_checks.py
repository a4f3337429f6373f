"""점검: each check with a case that must not be flagged, and resolving a flag with a note until its data changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import billing_checks, orders
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, RuleViolation
from storage.models import AccessLog, Order, Provider, ProviderService, Resident, Survey, Visit
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident


async def test_wrong_billing_is_flagged_with_the_visits_it_is_about(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 12, 10, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    one = await make_provider(session, place)
    two = await make_provider(session, place)
    resident = await make_resident(session, place)
    first = await make_order(session, resident, units=2, requested_date=date(2026, 12, 3))
    second = await make_order(session, resident, units=5, requested_date=date(2026, 12, 1))
    for order, provider in ((first, one), (second, two)):
        assert order.id is not None and provider.id is not None
        await orders.screen(session, order_id=order.id, actor=DESK)
        await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    # first: a visit on 12-02 (before its plan starts 12-03) and 3 units for 2 planned;
    # on 12-04 both providers served the same meals to the same person.
    for order, provider, day, units in (
        (first, one, date(2026, 12, 2), 1),
        (first, one, date(2026, 12, 4), 2),
        (second, two, date(2026, 12, 4), 1),
        (second, two, date(2026, 12, 5), 1),
    ):
        session.add(Visit(district_id=place.district_id, order_id=order.id, resident_id=resident.id,  # type: ignore[arg-type]
                          provider_id=provider.id, day=day, units=units))  # fmt: skip
    await session.flush()
    flags = await billing_checks.list_flags(
        session, district_id=place.district_id, first=date(2026, 12, 1), last=date(2026, 12, 31)
    )
    kinds = sorted((f.kind, f.day) for f in flags)
    assert kinds == [
        ("outside_plan", date(2026, 12, 2)),
        ("over_plan", None),
        ("two_providers", date(2026, 12, 4)),
    ]
    both = next(f for f in flags if f.kind == "two_providers")
    assert set(both.order_ids) == {first.id, second.id} and len(both.visit_ids) == 2
    other = await make_district(session, name="서대문구")
    assert (
        await billing_checks.list_flags(
            session, district_id=other.district_id, first=date(2026, 12, 1), last=date(2026, 12, 31)
        )
        == []
    )


# ---------------------------------------------------------------- one check at a time, with what must NOT be flagged

DEC = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 12, 1), date(2026, 12, 31)


async def assigned(session: AsyncSession, place: Place, provider: Provider, resident: Resident, **kw: Any) -> Order:
    order = await make_order(session, resident, **kw)
    assert order.id is not None and provider.id is not None
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    return order


def visit(order: Order, provider: Provider, day: date, units: int = 1, kind: str = "delivered") -> Visit:
    assert order.id is not None
    return Visit(district_id=order.district_id, order_id=order.id, resident_id=order.resident_id,
                 provider_id=provider.id, day=day, units=units, kind=kind)  # fmt: skip


async def flags_of(session: AsyncSession, place: Place, *visits_: Visit) -> list[billing_checks.Flag]:
    session.add_all(visits_)
    await session.flush()
    return await billing_checks.list_flags(session, district_id=place.district_id, first=FIRST, last=LAST)


async def test_outside_the_plan_is_a_day_before_it_starts_not_the_first_day(session: AsyncSession) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    provider, resident = await make_provider(session, place), await make_resident(session, place)
    order = await assigned(session, place, provider, resident, units=10, requested_date=date(2026, 12, 7))
    flags = await flags_of(
        session, place, visit(order, provider, date(2026, 12, 6)), visit(order, provider, date(2026, 12, 7))
    )
    assert [(f.kind, f.day) for f in flags] == [("outside_plan", date(2026, 12, 6))]
    # Without a preferred date the plan starts on the day the order was made (12-20 here).
    clock.set_now(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    later = await assigned(session, place, provider, await make_resident(session, place), units=10)
    clock.set_now(DEC)
    flags = await flags_of(
        session, place, visit(later, provider, date(2026, 12, 2)), visit(later, provider, date(2026, 12, 3))
    )
    assert [f.day for f in flags if f.kind == "outside_plan"] == [date(2026, 12, 6)]


async def test_over_the_plan_counts_every_month_and_an_approved_completion_is_not_flagged(
    session: AsyncSession,
) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    provider = await make_provider(session, place)
    # 20 planned over two months, 12 in November and 8 in December: exactly the plan, no flag.
    exact = await assigned(session, place, provider, await make_resident(session, place), units=20,
                           requested_date=date(2026, 11, 1))  # fmt: skip
    # 5 planned, 3 in November and 3 in December: 6 > 5, flagged in December although December alone is 3.
    over = await assigned(session, place, provider, await make_resident(session, place), units=5,
                          requested_date=date(2026, 11, 1))  # fmt: skip
    # 2 planned, 3 delivered, and the desk completed it with 3 (approved): no flag.
    approved = await assigned(session, place, provider, await make_resident(session, place), units=2,
                              requested_date=date(2026, 12, 1))  # fmt: skip
    rows = [visit(exact, provider, date(2026, 11, 10), 12), visit(exact, provider, date(2026, 12, 10), 8)]
    rows += [visit(over, provider, date(2026, 11, d)) for d in (2, 3, 4)]
    rows += [visit(over, provider, date(2026, 12, d)) for d in (2, 3, 4)]
    rows += [visit(approved, provider, date(2026, 12, d)) for d in (1, 2, 3)]
    flags = await flags_of(session, place, *rows)
    assert [(f.kind, f.order_ids) for f in flags] == [("over_plan", (over.id,)), ("over_plan", (approved.id,))]
    assert len(flags[0].visit_ids) == 6 and flags[0].facts["delivered"] == 6
    assert approved.id is not None
    await orders.accept(session, order_id=approved.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    await orders.start(session, order_id=approved.id, actor=DESK)
    await orders.complete(session, order_id=approved.id, delivered_units=3, actor=DESK, approved_over_plan=True)
    flags = await billing_checks.list_flags(session, district_id=place.district_id, first=FIRST, last=LAST)
    assert [(f.kind, f.order_ids) for f in flags] == [("over_plan", (over.id,))]


async def test_two_providers_is_one_service_one_day_not_two_services_or_one_provider_twice(
    session: AsyncSession,
) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    one, two = await make_provider(session, place), await make_provider(session, place)
    resident = await make_resident(session, place)
    meals_one = await assigned(session, place, one, resident, units=10, requested_date=FIRST)
    care_two = await assigned(session, place, two, resident, units=4, service_code="home_care", requested_date=FIRST)
    meals_one_again = await assigned(session, place, one, resident, units=10, requested_date=FIRST)
    meals_two = await assigned(session, place, two, resident, units=10, requested_date=FIRST)
    day, other_day = date(2026, 12, 4), date(2026, 12, 5)
    flags = await flags_of(
        session,
        place,
        visit(meals_one, one, day),
        visit(care_two, two, day),  # another service: fine
        visit(meals_one_again, one, day),  # the same provider twice: not this check
        visit(meals_two, two, other_day),  # the other provider, the next day: fine
    )
    assert [f.kind for f in flags] == []
    flags = await flags_of(session, place, visit(meals_two, two, day))
    [flag] = flags
    assert (flag.kind, flag.day, len(flag.visit_ids)) == ("two_providers", day, 3)


async def test_visits_after_death_or_moving_out_but_not_on_that_day(session: AsyncSession) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    provider = await make_provider(session, place)
    died = await make_resident(session, place, died_on=date(2026, 12, 8))
    moved = await make_resident(session, place, moved_out_on=date(2026, 12, 10))
    a = await assigned(session, place, provider, died, units=10, requested_date=FIRST)
    b = await assigned(session, place, provider, moved, units=10, requested_date=FIRST)
    flags = await flags_of(
        session,
        place,
        visit(a, provider, date(2026, 12, 8)),  # the day of death: a meal may have been taken
        visit(a, provider, date(2026, 12, 9)),
        visit(a, provider, date(2026, 12, 11), kind="no_show", units=0),  # not billed: nothing to flag
        visit(b, provider, date(2026, 12, 10)),
        visit(b, provider, date(2026, 12, 12)),
    )
    assert sorted((f.kind, f.day) for f in flags) == [
        ("after_death", date(2026, 12, 9)),
        ("after_move_out", date(2026, 12, 12)),
    ]


async def test_a_week_over_capacity_but_not_at_it_nor_split_over_two_weeks(session: AsyncSession) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    busy = await make_provider(session, place, weekly_capacity=5)
    split = await make_provider(session, place, weekly_capacity=5)
    own = await make_provider(session, place, weekly_capacity=100)
    # `own` gives meals a capacity of its own (3 a week); its home care falls under the overall 100.
    await session.execute(
        update(ProviderService)
        .where(col(ProviderService.provider_id) == own.id, col(ProviderService.service_code) == "meals")
        .values(weekly_capacity=3)
    )
    r1, r2 = await make_resident(session, place), await make_resident(session, place)
    o1 = await assigned(session, place, busy, r1, units=10, requested_date=FIRST)
    o2 = await assigned(session, place, busy, r2, units=10, requested_date=FIRST)
    o3 = await assigned(session, place, split, r1, units=8, service_code="home_care", requested_date=FIRST)
    o4 = await assigned(session, place, own, r2, units=10, service_code="home_care", requested_date=FIRST)
    o5 = await assigned(session, place, own, r1, units=10, requested_date=FIRST)
    # busy: exactly 5 in the week of Mon 12-07 (not flagged), 6 in the week of Mon 12-14 (flagged).
    rows = [visit(o1, busy, date(2026, 12, 7), 3), visit(o2, busy, date(2026, 12, 9), 2)]
    rows += [visit(o1, busy, date(2026, 12, 14), 3), visit(o2, busy, date(2026, 12, 16), 3)]
    # split: 4 on Sunday 12-13 and 4 on Monday 12-14 — two weeks, 4 each.
    rows += [visit(o3, split, date(2026, 12, 13), 4), visit(o3, split, date(2026, 12, 14), 4)]
    # own: 10 home-care visits in a week (under 100), meals 4 in a week (over its own 3).
    rows += [
        visit(o4, own, date(2026, 12, 21), 10),
        visit(o5, own, date(2026, 12, 21), 2),
        visit(o5, own, date(2026, 12, 22), 2),
    ]
    flags = await flags_of(session, place, *rows)
    got = sorted(
        (f.provider_id, f.day, f.facts["service"], f.facts["units"]) for f in flags if f.kind == "over_capacity"
    )
    assert got == [(busy.id, date(2026, 12, 14), "*", 6), (own.id, date(2026, 12, 21), "meals", 4)]


async def resolve(
    session: AsyncSession, access: Access, order: Order, checked: billing_checks.Checked, note: str
) -> Any:
    assert order.id is not None
    return await billing_checks.resolve(
        session, access=access, order_id=order.id, key=checked.flag.key, fingerprint=checked.flag.fingerprint,
        note=note, year=2026, month=12, operator_id=None,
    )  # fmt: skip


async def test_a_resolved_flag_stays_resolved_until_its_data_changes(session: AsyncSession) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    provider = await make_provider(session, place)
    order = await assigned(session, place, provider, await make_resident(session, place), units=2, requested_date=FIRST)
    await flags_of(session, place, *[visit(order, provider, date(2026, 12, d)) for d in (1, 2, 3)])
    access = Access(operator_id=None, username="김창구", ip="127.0.0.1", district_id=place.district_id, role="operator")
    [open_] = await billing_checks.list_for_desk(session, access=access, year=2026, month=12)
    assert order.id is not None and open_.resolution is None
    with pytest.raises(InvalidInput):
        await resolve(session, access, order, open_, "  ")
    other = await make_district(session, name="서대문구")
    stranger = Access(operator_id=None, username="남창구", ip=None, district_id=other.district_id, role="admin")
    with pytest.raises(NotFound):
        await resolve(session, stranger, order, open_, "확인함")
    done = await resolve(session, access, order, open_, "보호자 몫 1식, 구청 승인 받음")
    assert (done.resolved_by_name, done.note) == ("김창구", "보호자 몫 1식, 구청 승인 받음")
    assert await billing_checks.list_for_desk(session, access=access, year=2026, month=12) == []
    [shown] = await billing_checks.list_for_desk(session, access=access, year=2026, month=12, resolved=True)
    assert shown.resolution is not None and shown.resolution.id == done.id
    # A second resolution of the same flag as it is: it is not on the open list any more.
    with pytest.raises(RuleViolation):
        await resolve(session, access, order, open_, "다시")
    # Another visit changes the data: the flag is back, open.
    session.add(visit(order, provider, date(2026, 12, 4)))
    await session.flush()
    [again] = await billing_checks.list_for_desk(session, access=access, year=2026, month=12)
    assert again.flag.key == open_.flag.key and again.resolution is None
    # A page shown before that change resolves nothing: the fingerprint it carried is old.
    with pytest.raises(ConflictError):
        await resolve(session, access, order, open_, "확인")
    logged = (
        (await session.execute(select(AccessLog).where(AccessLog.action == "billing_check_resolve"))).scalars().all()
    )
    assert [row.resident_id for row in logged] == [order.resident_id]


async def test_visits_billed_for_an_order_the_resident_said_they_did_not_or_only_partly_receive(
    session: AsyncSession,
) -> None:
    clock.set_now(DEC)
    place = await make_district(session)
    provider = await make_provider(session, place)
    answers: dict[str | None, int | None] = {}
    visits_ = []
    for answer in ("none", "partly", "all", None):
        resident = await make_resident(session, place)
        order = await assigned(session, place, provider, resident, units=10, requested_date=FIRST)
        session.add(Survey(order_id=order.id, received=answer))
        answers[answer] = order.id
        visits_.append(visit(order, provider, date(2026, 12, 3)))
    flags = await flags_of(session, place, *visits_)
    # 잘 받았어요 and no answer yet are not flagged; 못 받았어요 and 일부만 are, each naming its visits.
    assert sorted((f.kind, f.order_ids, f.facts["answer"]) for f in flags) == [
        ("not_received", (answers["none"],), "I did not receive it"),
        ("not_received", (answers["partly"],), "Only part of it"),
    ]
    assert all(len(f.visit_ids) == 1 for f in flags)
