"""Deadline chasers: late assignments back to the desk, late intake flagged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from care import chasers, orders
from dolbom import clock
from jobs import tasks
from storage.models import Assignment, DeskNotice, OrderHistory
from tests import factories
from tests.factories import DESK
from tests.jobs.helpers import seoul


async def test_an_assignment_not_accepted_by_its_deadline_goes_back_to_the_desk(db):
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    async with db.transaction() as s:
        place = await factories.make_district(s)
        provider = await factories.make_provider(s, place, name="늦는기관", is_lead=True)
        resident = await factories.make_resident(s, place)
        order = await factories.make_order(s, resident)
        await orders.screen(s, order_id=order.id, actor=DESK)
        await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)
    clock.advance(timedelta(hours=3, minutes=59))
    assert await tasks.assignment_deadlines(db) == 0
    clock.advance(timedelta(minutes=2))
    assert await tasks.assignment_deadlines(db) == 1
    assert await tasks.assignment_deadlines(db) == 0  # once only
    async with db.sessions() as s:
        current = await orders.get(s, order_id=order.id)
        assert current.status == "screening"
        assignment = (await s.execute(select(Assignment))).scalar_one()
        assert assignment.status == "expired" and assignment.decline_reason
        history = list((await s.execute(select(OrderHistory).where(OrderHistory.action == "return"))).scalars())
        assert history[0].actor_kind == "system" and history[0].reason == assignment.decline_reason
        notice = (await s.execute(select(DeskNotice))).scalar_one()
        assert notice.kind == "assignment_expired" and notice.order_id == order.id and "늦는기관" in notice.title


async def test_an_accepted_assignment_is_left_alone(db):
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    async with db.transaction() as s:
        place = await factories.make_district(s)
        provider = await factories.make_provider(s, place)
        order = await factories.make_order(s, await factories.make_resident(s, place))
        await orders.screen(s, order_id=order.id, actor=DESK)
        await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)
        await orders.accept(s, order_id=order.id, provider_id=provider.id, actor=DESK)
    clock.advance(timedelta(days=1))
    assert await tasks.assignment_deadlines(db) == 0


async def test_orders_waiting_in_intake_too_long_are_flagged(session, monkeypatch):
    from dolbom.settings import get_settings

    monkeypatch.setattr(get_settings(), "intake_overdue_hours", 24)
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    place = await factories.make_district(session)
    old = await factories.make_order(session, await factories.make_resident(session, place))
    clock.advance(timedelta(hours=20))
    fresh = await factories.make_order(session, await factories.make_resident(session, place))
    screened = await factories.make_order(session, await factories.make_resident(session, place))
    await orders.screen(session, order_id=screened.id, actor=DESK)
    clock.advance(timedelta(hours=5))
    overdue = await chasers.list_overdue_intake(session, district_id=place.district_id)
    assert [o.id for o in overdue] == [old.id]
    assert chasers.is_intake_overdue(old) and not chasers.is_intake_overdue(fresh)
    clock.advance(timedelta(hours=20))
    assert {o.id for o in await chasers.list_overdue_intake(session)} == {old.id, fresh.id, screened.id}
