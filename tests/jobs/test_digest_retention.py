"""The daily digest to the desk, and the retention purge."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from care import checkins, digest, retention
from dolbom import clock
from storage.models import (
    AccessLog,
    CheckinSchedule,
    DeskNotice,
    FamilyContact,
    Order,
    Resident,
    ResidentChannel,
)
from tests import factories
from tests.jobs.helpers import add_family, resident_with_chat, seoul


async def test_digest_counts_yesterday_and_is_written_once(session):
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await factories.make_order(session, r)
    await factories.make_order(session, r, service_code="home_care")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600)
    await checkins.dispatch_due(session)
    clock.advance(timedelta(hours=2))
    await checkins.escalate_due(session)
    clock.set_now(seoul(2026, 11, 24, 8, 0))
    await factories.make_order(session, r, service_code="escort")  # today: not in yesterday's figures
    [notice] = await digest.write_daily(session)
    assert notice.kind == "digest" and "2026-11-23" in notice.title
    assert "어제 새 신청: 2건" in notice.body
    assert "지금 처리 중인 신청: 3건" in notice.body
    assert "어제 응답 없는 안부확인: 1건" in notice.body
    assert await digest.write_daily(session) == []
    assert len(list((await session.execute(select(DeskNotice))).scalars())) == 1


async def test_inactive_residents_are_purged_orders_kept_and_logged(session, monkeypatch):
    from dolbom.settings import get_settings

    monkeypatch.setattr(get_settings(), "retention_days", 365)
    clock.set_now(seoul(2024, 1, 10, 9, 0))
    place = await factories.make_district(session)
    gone = await resident_with_chat(session, place, "100", name="홍길동", phone="+821012340000", address="망원로 12")
    await add_family(session, gone, "101")
    await checkins.set_schedule(session, resident_id=gone.id, weekdays=[0], at_minute=600)
    order = await factories.make_order(session, gone, details={"note": "3층"})
    from care import orders
    from tests.factories import DESK

    await orders.cancel(session, order_id=order.id, reason="본인 취소", actor=DESK)
    clock.set_now(seoul(2025, 1, 20, 9, 0))
    active = await resident_with_chat(session, place, "200")

    assert await retention.purge_due(session) == 1
    assert await retention.purge_due(session) == 0
    purged = await session.get(Resident, gone.id)
    assert purged.purged_at is not None and purged.name != "홍길동"
    assert purged.phone is None and purged.address is None and purged.birth_year is None
    for model in (ResidentChannel, FamilyContact, CheckinSchedule):
        rows = (await session.execute(select(model).where(model.resident_id == gone.id))).scalars().all()
        assert rows == []
    kept = await session.get(Order, order.id, populate_existing=True)
    assert kept is not None and kept.status == "cancelled" and kept.details == {}
    log = (await session.execute(select(AccessLog).where(AccessLog.action == "purge"))).scalar_one()
    assert log.resident_id == gone.id
    assert (await session.get(Resident, active.id)).purged_at is None


async def test_a_resident_with_an_open_order_is_not_purged(session, monkeypatch):
    from dolbom.settings import get_settings

    monkeypatch.setattr(get_settings(), "retention_days", 30)
    clock.set_now(seoul(2024, 1, 10, 9, 0))
    place = await factories.make_district(session)
    r = await factories.make_resident(session, place)
    await factories.make_order(session, r)
    clock.set_now(seoul(2024, 6, 10, 9, 0))
    assert await retention.purge_due(session) == 0


async def test_the_digest_job_waits_for_the_digest_time_then_writes_once(db):
    from jobs import tasks

    async with db.transaction() as s:
        await factories.make_district(s)
    clock.set_now(seoul(2026, 11, 24, 7, 59))
    assert await tasks.daily_digest(db) == 0
    clock.set_now(seoul(2026, 11, 24, 8, 0))
    assert await tasks.daily_digest(db) == 1
    clock.set_now(seoul(2026, 11, 24, 17, 0))  # e.g. after a restart: nothing twice
    assert await tasks.daily_digest(db) == 0


async def test_abandoned_requests_and_old_update_ids_are_not_kept(session):
    from care import retention
    from storage import conversations as store
    from storage.models import Conversation, Inbound

    clock.set_now(seoul(2026, 11, 1, 9, 0))
    session.add(Conversation(channel="telegram", user_key="700", state={"flow": "request", "a": {"name": "김영희"}}))
    session.add(Inbound(bot_id=1, update_id=1, status="answered"))
    await session.commit()
    clock.set_now(seoul(2026, 11, 5, 9, 0))
    session.add(Inbound(bot_id=1, update_id=2, status="answered"))
    session.add(Conversation(channel="telegram", user_key="701", state={"flow": "request", "a": {"name": "박철수"}}))
    await session.commit()
    clock.set_now(seoul(2026, 11, 9, 9, 0))  # 8 days after the first, 4 after the second
    forgotten, purged = await retention.purge_conversations(session)
    await session.commit()
    assert (forgotten, purged) == (1, 2)
    old = await store.load(session, channel="telegram", user_key="700")
    assert "김영희" not in str(old.state)
    recent = await store.load(session, channel="telegram", user_key="701")
    assert "박철수" in str(recent.state)
