"""점검: visits outside the plan, over the plan, and two providers serving one person one service on one day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from care import billing_checks, orders
from dolbom import clock
from storage.models import Visit
from tests.factories import DESK, make_district, make_order, make_provider, make_resident


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
        ("two_providers_one_day", date(2026, 12, 4)),
    ]
    both = next(f for f in flags if f.kind == "two_providers_one_day")
    assert set(both.order_ids) == {first.id, second.id} and len(both.visit_ids) == 2
    other = await make_district(session, name="서대문구")
    assert (
        await billing_checks.list_flags(
            session, district_id=other.district_id, first=date(2026, 12, 1), last=date(2026, 12, 31)
        )
        == []
    )
