"""Provider staff record each visit in the bot (real Dispatcher): one tap a day, no-shows, completion from the sum."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from sqlalchemy import select

from care import notices, orders, provider_tasks, visits
from care.auth import Access
from dolbom import clock
from dolbom.i18n import gettext
from storage.db import Database
from storage.models import AccessLog, DeskNotice, Visit
from tests.bot.care_people import OTHER_STAFF_USER, invite_code, joined_staff
from tests.bot.harness import Person
from tests.bot.test_provider_flow import assign_new_order
from tests.factories import Place

DAY1 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 11:00 in Seoul


def at(day: int) -> datetime:
    return datetime(2026, 12, day, 2, 0, tzinfo=UTC)


async def visits_of(db: Database, order_id: int) -> list[Visit]:
    async with db.sessions() as s:
        return await visits.list_for_order(s, order_id=order_id)


async def test_each_meal_and_a_no_show_are_recorded_and_completion_uses_their_sum(db: Database, place: Place) -> None:
    clock.set_now(DAY1)
    staff, provider = await joined_staff(db, place)
    assignment = await assign_new_order(db, place, provider.id, units=20, requested_date=date(2026, 12, 1))  # type: ignore[arg-type]
    await staff.press_data(f"as:{assignment.id}:accept")
    assert {"오늘 1식 전달", "이용자 부재·무단결석", "진행 시작"} <= set(staff.buttons())
    old = staff.buttons()["오늘 1식 전달"]
    await staff.press("오늘 1식 전달")
    assert "기록했어요: 12월 1일 (화), 1식" in staff.last_texts(2)
    assert "지금까지 기록: 1식 / 계획 20식" in staff.last.text
    # A double tap: the old button again, then the new card's button on the same day.
    await staff.press_data(old)
    await staff.press("오늘 1식 전달")
    assert gettext(visits.MSG_ALREADY_TODAY, "ko") in staff.last_texts(2)
    clock.set_now(at(2))
    await staff.say("/start")
    await staff.press("오늘 할 일")
    await staff.press("이용자 부재·무단결석")
    assert {"이용자 부재", "무단결석", "입원", "이용 거부", "기타"} <= set(staff.buttons())
    await staff.press("이용자 부재")
    await staff.say("문을 두드려도 안 나오셨어요")
    said = staff.last_texts(3)
    assert "기록했어요: 12월 2일 (수), 이용자 부재: 문을 두드려도 안 나오셨어요. 비용은 청구되지 않아요." in said
    clock.set_now(at(3))
    await staff.say("/start")
    await staff.press("오늘 할 일")
    await staff.press("오늘 1식 전달")
    await staff.press("완료")
    assert "제공 2식 (계획 20식), 부재·결석 1회" in staff.last.text
    await staff.press("이대로 완료")
    await staff.press("메모 없음")
    assert "완료로 기록했어요: 식사지원 2식" in staff.last_texts(2)
    print("\n".join(staff.transcript))
    rows = await visits_of(db, assignment.order_id)
    assert [(v.day.day, v.kind, v.units, v.recorded_by_kind) for v in rows] == [
        (1, "delivered", 1, "provider"),
        (2, "no_show", 0, "provider"),
        (3, "delivered", 1, "provider"),
    ]
    async with db.sessions() as s:
        done = await orders.get(s, order_id=assignment.order_id)
        assert (done.status, done.delivered_units) == ("done", 2)
    # The completed order's card has no visit buttons any more.
    await staff.press_data(old)
    async with db.sessions() as s:
        assert len(await visits.list_for_order(s, order_id=assignment.order_id)) == 3


async def test_the_tap_says_the_units_of_the_service_and_a_forged_amount_is_refused(db: Database, place: Place) -> None:
    clock.set_now(DAY1)
    staff, provider = await joined_staff(db, place)
    care = await assign_new_order(db, place, provider.id, units=4, service_code="home_care")  # type: ignore[arg-type]
    escort = await assign_new_order(db, place, provider.id, units=6, service_code="escort")  # type: ignore[arg-type]
    await staff.press_data(f"as:{care.id}:accept")
    assert "오늘 3시간 방문" in staff.buttons()
    await staff.press_data(f"as:{escort.id}:accept")
    assert {"오늘 1시간", "오늘 2시간", "오늘 3시간", "오늘 4시간"} <= set(staff.buttons())
    nonce = staff.buttons()["오늘 2시간"].split(":", 1)[0]
    await staff.press_data(f"{nonce}:vis:{escort.id}:9")
    assert "이해하지 못했어요" in staff.last_texts(2) or "알아듣지" in staff.last_texts(2)
    assert await visits_of(db, escort.order_id) == []
    await staff.press("오늘 2시간")
    [visit] = await visits_of(db, escort.order_id)
    assert (visit.units, visit.day) == (2, date(2026, 12, 1))


async def test_a_forged_visit_button_for_another_providers_order_is_refused(db: Database, place: Place) -> None:
    clock.set_now(DAY1)
    owner, owner_provider = await joined_staff(db, place)
    intruder, other_provider = await joined_staff(db, place, user_id=OTHER_STAFF_USER, name="다른협동조합")
    victim = await assign_new_order(db, place, owner_provider.id)  # type: ignore[arg-type]
    own = await assign_new_order(db, place, other_provider.id)  # type: ignore[arg-type]
    await owner.press_data(f"as:{victim.id}:accept")
    await intruder.press_data(f"as:{own.id}:accept")  # the intruder's own card is open: its buttons reach _act
    for action in (f"vis:{victim.id}:1", f"nos:{victim.id}", f"done:{victim.id}"):
        nonce = intruder.buttons()["오늘 1식 전달"].split(":", 1)[0]
        before = len(intruder.sent())
        await intruder.press_data(f"{nonce}:{action}")
        answers = [m.text for m in intruder.sent()[before:]]
        assert answers[0] == gettext(provider_tasks.MSG_NOT_YOURS, "ko"), answers
        assert len(answers) == 2  # then only the intruder's own card, asked again
    assert await visits_of(db, victim.order_id) == []
    async with db.sessions() as s:
        refused = list((await s.execute(select(AccessLog).where(AccessLog.action == "provider_refused"))).scalars())
        assert len(refused) == 3 and all(f"assignment {victim.id}" in (r.detail or "") for r in refused)
        assert (await orders.get(s, order_id=victim.order_id)).status == "accepted"


async def test_two_staff_tapping_at_once_record_the_day_once(db: Database, place: Place) -> None:
    clock.set_now(DAY1)
    first, provider = await joined_staff(db, place)
    second = Person(db, user_id=OTHER_STAFF_USER, name="민수")
    await second.say(f"/start {await invite_code(db, provider_id=provider.id)}")
    assignment = await assign_new_order(db, place, provider.id)  # type: ignore[arg-type]
    await first.press_data(f"as:{assignment.id}:accept")
    for person in (first, second):
        await person.say("/start")
        await person.press("오늘 할 일")
    a, b = first.buttons()["오늘 1식 전달"], second.buttons()["오늘 1식 전달"]
    before = len(first.sent()), len(second.sent())
    await asyncio.gather(first.press_data(a), second.press_data(b))
    [visit] = await visits_of(db, assignment.order_id)
    assert visit.units == 1
    said = "\n".join(m.text for m in first.sent()[before[0] :] + second.sent()[before[1] :])
    assert "기록했어요: 12월 1일 (화), 1식" in said
    assert gettext(visits.MSG_ALREADY_TODAY, "ko") in said


async def test_three_no_shows_in_a_row_tell_the_desk(db: Database, place: Place) -> None:
    staff, provider = await joined_staff(db, place)
    clock.set_now(DAY1)
    assignment = await assign_new_order(db, place, provider.id)  # type: ignore[arg-type]
    await staff.press_data(f"as:{assignment.id}:accept")
    for day in (1, 2, 3):
        clock.set_now(at(day))
        await staff.say("/start")
        await staff.press("오늘 할 일")
        await staff.press("이용자 부재·무단결석")
        await staff.press("무단결석")
        await staff.press("메모 없음")
    assert "3번 연속이에요. 통합창구에 알렸고" in staff.last_texts(3)
    access = Access(operator_id=None, username="김창구", ip=None, district_id=place.district_id, role="operator")
    async with db.transaction() as s:
        desk = await notices.list_for_desk(s, access=access)
        [streak] = [n for n in desk if n.kind == "no_show_streak"]
        assert streak.order_id == assignment.order_id and "3" in streak.title
        assert len((await s.execute(select(DeskNotice))).scalars().all()) >= 1
