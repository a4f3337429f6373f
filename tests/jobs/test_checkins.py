"""Safety check-ins through a day, with the clock under the test's control."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot import callbacks
from bot.actions import checkin as checkin_action  # noqa: F401 - registers "ci"
from bot.messages import Incoming
from care import checkins
from dolbom import clock
from dolbom.errors import PermissionDenied
from dolbom.settings import get_settings
from storage.models import CheckinSlot, DeskMessage, DeskThread, Resident
from tests import factories
from tests.jobs.helpers import add_care_manager, add_family, outbox_to, resident_with_chat, seoul

MONDAY_10 = seoul(2026, 11, 23, 10, 0)  # an ordinary Monday


async def _slot(session, resident_id: int) -> CheckinSlot:
    result = await session.execute(
        select(CheckinSlot).where(CheckinSlot.resident_id == resident_id).execution_options(populate_existing=True)
    )
    return result.scalar_one()


async def test_a_full_day_answered_reminded_and_missed_then_all_clear(session):
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    place = await factories.make_district(session)
    fine = await resident_with_chat(session, place, "100")
    late = await resident_with_chat(session, place, "200")
    fallen = await resident_with_chat(session, place, "300", phone="010-3000-3000")
    await add_family(session, fallen, "301", phone="010-3010-3010")
    await add_care_manager(session, place, "900")
    for r in (fine, late, fallen):
        await checkins.set_schedule(session, resident_id=r.id, weekdays=[0, 2, 4], at_minute=600)
    await session.commit()

    # Before 10:00 nothing is asked.
    assert await checkins.dispatch_due(session) == 0
    clock.set_now(MONDAY_10)
    assert await checkins.dispatch_due(session) == 3
    assert await checkins.dispatch_due(session) == 0  # a second run repeats nothing
    await session.commit()
    question = (await outbox_to(session, "100"))[0]
    slot = await _slot(session, fine.id)
    assert question.text == "잘 지내고 계세요?"
    assert question.buttons == [
        [{"text": "잘 지내요", "data": f"ci:{slot.id}:ok"}],
        [{"text": "도움이 필요해요", "data": f"ci:{slot.id}:help"}],
    ]

    # The first answers at once.
    await checkins.answer(session, slot_id=slot.id, answer="ok", channel="telegram", user_key="100")
    await session.commit()

    # An hour later the other two are reminded; the second then answers.
    clock.advance(timedelta(minutes=60))
    assert await checkins.remind_due(session) == 2
    assert await checkins.remind_due(session) == 0
    assert [o.kind for o in await outbox_to(session, "200")] == ["checkin", "checkin_reminder"]
    late_slot = await _slot(session, late.id)
    assert late_slot.status == "reminded" and late_slot.reminded_at == clock.now()
    await checkins.answer(session, slot_id=late_slot.id, answer="ok", channel="telegram", user_key="200")
    await session.commit()

    # Two hours after the question the third is missed: family and care manager are told.
    clock.advance(timedelta(minutes=60))
    assert await checkins.escalate_due(session) == 1
    await session.commit()
    fallen_slot = await _slot(session, fallen.id)
    assert fallen_slot.status == "escalated" and fallen_slot.missed_at == clock.now()
    assert [o.kind for o in await outbox_to(session, "301")] == ["checkin_alert"]
    assert [o.kind for o in await outbox_to(session, "900")] == ["checkin_alert"]
    assert fallen.name in (await outbox_to(session, "301"))[0].text

    # The board: missed first, with the phone numbers to call.
    board = await checkins.list_today(session, district_id=place.district_id)
    assert board[0].resident_id == fallen.id
    assert board[0].phone == "010-3000-3000" and board[0].family_phones == ["010-3010-3010"]
    assert board[0].needs_call
    assert {row.slot.status for row in board[1:]} == {"answered"}

    # The answer after the alert sends an all clear to those alerted.
    clock.advance(timedelta(minutes=30))
    await checkins.answer(session, slot_id=fallen_slot.id, answer="ok", channel="telegram", user_key="300")
    await session.commit()
    fallen_slot = await _slot(session, fallen.id)
    assert fallen_slot.status == "answered" and fallen_slot.all_clear_sent
    assert [o.kind for o in await outbox_to(session, "301")] == ["checkin_alert", "checkin_all_clear"]
    assert [o.kind for o in await outbox_to(session, "900")] == ["checkin_alert", "checkin_all_clear"]
    # Those who answered before any alert caused no all clear.
    assert [o.kind for o in await outbox_to(session, "100")] == ["checkin"]


async def test_steps_follow_the_settings(session, monkeypatch):
    monkeypatch.setattr(get_settings(), "checkin_reminder_minutes", 15)
    monkeypatch.setattr(get_settings(), "checkin_missed_minutes", 30)
    clock.set_now(MONDAY_10)
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600)
    await checkins.dispatch_due(session)
    clock.advance(timedelta(minutes=15))
    assert await checkins.remind_due(session) == 1
    clock.advance(timedelta(minutes=15))
    assert await checkins.escalate_due(session) == 1
    slot = await _slot(session, r.id)
    assert slot.status == "missed"  # nobody to alert but the desk's board


async def test_pause_until_a_date_skips_those_days(session):
    clock.set_now(MONDAY_10)
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0, 1, 2], at_minute=600)
    await checkins.pause(session, resident_id=r.id, until=date(2026, 11, 24))  # through Tuesday
    assert await checkins.dispatch_due(session) == 0
    clock.advance(timedelta(days=1))
    assert await checkins.dispatch_due(session) == 0
    clock.advance(timedelta(days=1))  # Wednesday: asked again
    assert await checkins.dispatch_due(session) == 1
    assert [o.kind for o in await outbox_to(session, "100")] == ["checkin"]


async def test_days_not_scheduled_are_not_asked(session):
    clock.set_now(MONDAY_10 + timedelta(days=1))  # Tuesday
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0, 2, 4], at_minute=600)
    assert await checkins.dispatch_due(session) == 0


async def test_on_a_public_holiday_checkins_go_out_as_usual_and_note_it(session):
    clock.set_now(seoul(2026, 9, 25, 10, 0))  # 추석 (Chuseok), a Friday
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[4], at_minute=600)
    assert await checkins.dispatch_due(session) == 1
    slot = await _slot(session, r.id)
    assert slot.status == "sent" and slot.note == "holiday: Chuseok"
    assert len(await outbox_to(session, "100")) == 1


async def test_a_district_may_choose_to_skip_holidays_and_it_is_recorded(session, monkeypatch):
    monkeypatch.setattr(get_settings(), "checkin_skip_holidays", True)
    clock.set_now(seoul(2026, 9, 25, 10, 0))
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[4], at_minute=600)
    assert await checkins.dispatch_due(session) == 1
    slot = await _slot(session, r.id)
    assert slot.status == "skipped" and slot.note == "holiday: Chuseok"
    assert await outbox_to(session, "100") == []
    assert await checkins.escalate_due(session) == 0


async def test_help_alerts_the_desk_at_once_and_tells_the_resident(session):
    clock.set_now(MONDAY_10)
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600)
    await checkins.dispatch_due(session)
    slot = await _slot(session, r.id)
    found = callbacks.find(f"ci:{slot.id}:help")
    assert found is not None
    handler, payload = found
    replies = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    assert "119" in replies[0].text or "연락" in replies[0].text
    thread = (await session.execute(select(DeskThread))).scalar_one()
    assert thread.reason == "checkin_help" and thread.resident_id == r.id and thread.status == "open"
    assert (await session.execute(select(DeskMessage))).scalar_one().thread_id == thread.id
    assert (await _slot(session, r.id)).answer == "help"
    board = await checkins.list_today(session)
    assert board[0].resident_id == r.id and board[0].needs_call  # on top of the desk's board
    # Nobody else is waiting for an answer: no reminder, no escalation.
    clock.advance(timedelta(hours=3))
    assert await checkins.remind_due(session) == 0 and await checkins.escalate_due(session) == 0


async def test_only_the_resident_can_answer_their_checkin(session):
    clock.set_now(MONDAY_10)
    place = await factories.make_district(session)
    r = await resident_with_chat(session, place, "100")
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600)
    await checkins.dispatch_due(session)
    slot = await _slot(session, r.id)
    with pytest.raises(PermissionDenied):
        await checkins.answer(session, slot_id=slot.id, answer="ok", channel="telegram", user_key="666")


async def test_a_resident_without_a_reachable_chat_is_put_on_the_board_for_a_call(session):
    clock.set_now(MONDAY_10)
    place = await factories.make_district(session)
    r = await factories.make_resident(session, place)
    await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600)
    assert await checkins.dispatch_due(session) == 1
    slot = await _slot(session, r.id)
    assert slot.status == "unreachable"
    assert (await session.get(Resident, r.id)).needs_phone_call
    board = await checkins.list_today(session)
    assert board[0].needs_call


async def test_schedule_is_validated(session):
    place = await factories.make_district(session)
    r = await factories.make_resident(session, place)
    from dolbom.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await checkins.set_schedule(session, resident_id=r.id, weekdays=[], at_minute=600)
    with pytest.raises(InvalidInput):
        await checkins.set_schedule(session, resident_id=r.id, weekdays=[7], at_minute=600)
    s = await checkins.set_schedule(session, resident_id=r.id, weekdays=[4, 0, 2, 0], at_minute=630)
    assert s.weekdays == [0, 2, 4]
    assert checkins.describe(s).endswith("오전 10시 30분")


async def test_a_schedule_set_after_todays_time_starts_the_next_due_day(session):
    clock.set_now(seoul(2026, 11, 23, 15, 0))  # Monday afternoon; the schedule asks at 10:00
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "500")
    await checkins.set_schedule(session, resident_id=resident.id, weekdays=[0, 2, 4], at_minute=600)
    await session.commit()
    assert await checkins.dispatch_due(session) == 0
    assert await outbox_to(session, "500") == []
    clock.set_now(seoul(2026, 11, 25, 10, 0))  # Wednesday 10:00: the first check-in
    assert await checkins.dispatch_due(session) == 1


async def test_checkins_never_sent_while_jobs_were_down_over_midnight_reach_the_desk(session):
    from storage.models import DeskNotice

    clock.set_now(seoul(2026, 11, 22, 12, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "600", phone="010-6000-6000")
    await checkins.set_schedule(session, resident_id=resident.id, weekdays=[0], at_minute=600)
    await session.commit()
    # Jobs were down all Monday; they come back on Tuesday morning.
    clock.set_now(seoul(2026, 11, 24, 8, 0))
    assert await checkins.record_not_sent(session) == 1
    assert await checkins.record_not_sent(session) == 0  # recorded once
    await session.commit()
    slot = await _slot(session, resident.id)
    assert slot.status == "missed" and slot.scheduled_at == seoul(2026, 11, 23, 10, 0)
    assert await outbox_to(session, "600") == []  # nobody is asked a day late
    notices = (await session.execute(select(DeskNotice))).scalars().all()
    assert [n.kind for n in notices] == ["checkin_not_sent"]
    assert "010-6000-6000" in notices[0].body
    refreshed = (
        await session.execute(
            select(Resident).where(Resident.id == resident.id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert refreshed.needs_phone_call
