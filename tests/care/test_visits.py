"""Every visit recorded: deliveries and no-shows by day, delivered units = their sum, three no-shows raise a notice."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements, orders, provider_tasks, visits
from care.actors import Actor
from dolbom import clock
from dolbom.errors import InvalidInput, RuleViolation
from storage import orders as order_store
from storage.db import Database
from storage.models import DeskNotice, Order, Provider
from tests.care.test_races import race
from tests.factories import DESK, make_district, make_order, make_provider, make_resident
from tests.storage.pausing import Pause, first_write_or_lock

DEC = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)


async def accepted(session: AsyncSession, *, units: int = 30) -> tuple[Order, Provider]:
    place = await make_district(session)
    provider = await make_provider(session, place)
    resident = await make_resident(session, place)
    order = await make_order(session, resident, units=units, requested_date=date(2026, 11, 20))
    assert order.id is not None and provider.id is not None
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    return await orders.accept(session, order_id=order.id, provider_id=provider.id, actor=DESK), provider


def staff(provider: Provider) -> Actor:
    return Actor(kind="provider", id=provider.id, name=provider.name, channel="telegram")


async def test_delivered_units_are_the_sum_of_visits_and_no_shows_are_not_billed(session: AsyncSession) -> None:
    clock.set_now(DEC)
    order, provider = await accepted(session, units=30)
    assert order.id is not None
    # 28 meals over November and December, two no-shows: 28 meals delivered.
    days = [date(2026, 11, d) for d in range(20, 31)] + [date(2026, 12, d) for d in range(1, 10)]
    for i, day in enumerate(days):
        if i in (3, 12):
            await visits.record(session, order_id=order.id, day=day, units=1, kind="no_show",
                                reason="이용자 부재", actor=staff(provider), provider_id=provider.id)  # fmt: skip
        else:
            await visits.record(session, order_id=order.id, day=day, units=1, kind="delivered",
                                actor=staff(provider), provider_id=provider.id)  # fmt: skip
    await visits.record(session, order_id=order.id, day=date(2026, 12, 9), units=10, kind="delivered", actor=DESK)
    rows = await visits.list_for_order(session, order_id=order.id)
    assert visits.delivered(rows) == 18 + 10 and sum(v.kind == "no_show" for v in rows) == 2
    done = await visits.complete_from_visits(session, order_id=order.id, actor=DESK)
    assert (done.status, done.delivered_units) == ("done", 28)
    entry = await entitlements.get_entry(session, order_id=order.id)
    # 28 × 7,200 = 201,600, public for the 수급자.
    assert entry is not None and (entry.units, entry.public_amount, entry.resident_amount) == (28, 201_600, 0)


async def test_three_no_shows_in_a_row_raise_one_desk_notice(session: AsyncSession) -> None:
    clock.set_now(DEC)
    order, provider = await accepted(session)
    assert order.id is not None
    results = [
        await visits.record(
            session,
            order_id=order.id,
            day=date(2026, 12, d),
            units=0,
            kind="no_show",
            reason="무단결석",
            actor=staff(provider),
            provider_id=provider.id,
        )
        for d in (1, 2, 3)
    ]
    assert [r.no_show_streak for r in results] == [1, 2, 3]
    assert results[0].notice is None and results[2].notice is not None
    notices = (await session.execute(select(DeskNotice).where(DeskNotice.kind == "no_show_streak"))).scalars().all()
    assert len(notices) == 1 and notices[0].order_id == order.id


async def test_a_no_show_needs_a_reason_and_a_visit_cannot_be_in_the_future(session: AsyncSession) -> None:
    clock.set_now(DEC)
    order, _provider = await accepted(session)
    assert order.id is not None
    with pytest.raises(InvalidInput):
        await visits.record(session, order_id=order.id, day=date(2026, 12, 1), units=0, kind="no_show", actor=DESK)
    with pytest.raises(InvalidInput):
        await visits.record(session, order_id=order.id, day=date(2026, 12, 11), units=1, kind="delivered", actor=DESK)


async def test_another_provider_cannot_record_a_visit_and_completion_needs_visits(session: AsyncSession) -> None:
    clock.set_now(DEC)
    order, provider = await accepted(session)
    assert order.id is not None
    with pytest.raises(RuleViolation):
        await visits.record(session, order_id=order.id, day=date(2026, 12, 1), units=1, kind="delivered",
                            actor=DESK, provider_id=(provider.id or 0) + 999)  # fmt: skip
    with pytest.raises(RuleViolation):
        await visits.complete_from_visits(session, order_id=order.id, actor=DESK)


@pytest.mark.parametrize("kind", ["delivered", "no_show"])
async def test_two_taps_racing_for_the_same_day_record_it_once(db: Database, kind: str) -> None:
    """Two staff of one provider tap at once: one stops after its same-day check, the other commits first."""
    clock.set_now(DEC)
    async with db.transaction() as s:
        order, provider = await accepted(s)
        order = await orders.start(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
        assignment = await order_store.current_assignment(s, order.id)  # type: ignore[arg-type]
        assert assignment is not None and assignment.id is not None and provider.id is not None

    async def tap(s: AsyncSession) -> visits.Recorded:
        return await provider_tasks.record_visit(
            s,
            provider_id=provider.id,  # type: ignore[arg-type]
            assignment_id=assignment.id,  # type: ignore[arg-type]
            kind=kind,
            reason_code="absent",
            actor=staff(provider),
        )

    outcome = await race(db, tap, Pause(first_write_or_lock), tap)
    results = [outcome.paused, outcome.meanwhile]
    assert sum(isinstance(r, visits.Recorded) for r in results) == 1, results
    [refused] = [r for r in results if not isinstance(r, visits.Recorded)]
    assert isinstance(refused, RuleViolation) and refused.msgid == visits.MSG_ALREADY_TODAY
    async with db.sessions() as s:
        rows = await visits.list_for_order(s, order_id=order.id)  # type: ignore[arg-type]
        assert [(v.day, v.kind) for v in rows] == [(date(2026, 12, 10), kind)]
