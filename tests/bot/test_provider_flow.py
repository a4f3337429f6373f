"""Provider staff through the real Dispatcher: notices, 수락 / 거절, 진행 시작, 완료, 오늘 할 일, forged buttons."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from care import orders, provider_tasks, queue, settlement
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import RuleViolation
from dolbom.i18n import gettext
from storage import orders as store
from storage.db import Database
from storage.models import AccessLog, Assignment, DeskNotice, Order, Outbox
from tests.bot.care_people import (
    OTHER_STAFF_USER,
    joined_care_manager,
    joined_staff,
    notices_to,
    press_on_any,
    show_notice,
)
from tests.bot.harness import Person
from tests.bot.test_care_manager_flow import refer_two_services
from tests.factories import DESK, Place, make_order, make_resident

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul


async def assign_new_order(
    db: Database, place: Place, provider_id: int, *, units: int = 20, **kw: object
) -> Assignment:
    async with db.transaction() as s:
        resident = await make_resident(s, place, name="박순자", phone="+821012345678", address="성산로 12, 101호")
        order = await make_order(s, resident, units=units, **kw)  # type: ignore[arg-type]
        await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
        return await orders.assign(s, order_id=order.id, provider_id=provider_id, actor=DESK, note="점심 전 배달")  # type: ignore[arg-type]


async def test_referral_then_provider_accepts_and_completes_with_fewer_units(db: Database, place: Place) -> None:
    """The transcript of the issue: a referral with two services, one accepted and completed by a provider."""
    clock.set_now(NOW)
    async with db.transaction() as s:
        await make_resident(s, place, name="박순자", phone="+821012345678", address="성산로 12, 101호")
    manager, _ = await joined_care_manager(db, place)
    staff, provider = await joined_staff(db, place)
    await refer_two_services(manager)
    async with db.transaction() as s:
        meals = (await s.execute(select(Order).where(Order.service_code == "meals"))).scalar_one()
        await orders.screen(s, order_id=meals.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=meals.id, provider_id=provider.id, actor=DESK, note="점심 전 배달 부탁드려요")  # type: ignore[arg-type]
    [notice] = await notices_to(db, staff)
    show_notice(staff, notice)
    assert "순자 님" in notice.text and "박순자" not in notice.text and "성산로" not in notice.text
    assert "식사지원 20식" in notice.text and "1-1동" in notice.text and "점심 전 배달 부탁드려요" in notice.text
    staff.transcript.append("나: [수락]")
    await staff.press_data(notice.buttons[0][0]["data"])  # type: ignore[index]
    assert "성산로 12, 101호" in staff.last.text and "010-1234-5678" in staff.last.text and "박순자" in staff.last.text
    clock.set_now(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    await staff.say("/start")
    await staff.press("오늘 할 일")
    await press_on_any(staff, "진행 시작")
    clock.set_now(datetime(2026, 12, 20, 8, 0, tzinfo=UTC))
    await staff.press("완료")
    await staff.press("18식")
    await staff.say("12월 10일, 11일은 병원 입원으로 못 드림")
    assert "완료로 기록했어요: 식사지원 18식" in staff.last_texts(2)

    for row in await notices_to(db, manager):
        show_notice(manager, row)
    print("\n".join(manager.transcript))
    print("\n---- 제공기관 ----\n" + "\n".join(staff.transcript))

    async with db.sessions() as s:
        done = await orders.get(s, order_id=meals.id)  # type: ignore[arg-type]
        assert (done.status, done.units, done.delivered_units) == ("done", 20, 18)
        steps = [(h.action, h.actor_kind, h.channel) for h in await orders.list_history(s, order_id=done.id)]  # type: ignore[arg-type]
        assert steps == [
            ("create", "care_manager", "telegram"),
            ("screen", "operator", "console"),
            ("assign", "operator", "console"),
            ("accept", "provider", "telegram"),
            ("start", "provider", "telegram"),
            ("complete", "provider", "telegram"),
        ]
        [month] = await settlement.monthly(s, district_id=place.district_id, year=2026, month=12)
        assert (month.provider_id, month.units, month.total) == (provider.id, 18, 18 * 7_200)
    manager_notices = [r.text for r in await notices_to(db, manager)]
    assert any("마포밥상협동조합에 배정되었어요" in t for t in manager_notices)
    assert any("완료되었어요. 제공: 18식" in t for t in manager_notices)


async def test_a_forged_button_for_another_providers_assignment_is_refused(db: Database, place: Place) -> None:
    owner, owner_provider = await joined_staff(db, place)
    intruder, _ = await joined_staff(db, place, user_id=OTHER_STAFF_USER, name="다른협동조합")
    assignment = await assign_new_order(db, place, owner_provider.id)  # type: ignore[arg-type]
    for action in ("accept", "decline"):
        await intruder.press_data(f"as:{assignment.id}:{action}")
        assert gettext(provider_tasks.MSG_NOT_YOURS, "ko") in intruder.last.text
        assert "성산로" not in intruder.last_texts(2)
    resident = Person(db, user_id=9999)
    await resident.press_data(f"as:{assignment.id}:accept")
    assert gettext(provider_tasks.MSG_NOT_YOURS, "ko") in resident.last.text
    async with db.sessions() as s:
        order = await orders.get(s, order_id=assignment.order_id)
        assert order.status == "assigned"
        refused = list((await s.execute(select(AccessLog).where(AccessLog.action == "provider_refused"))).scalars())
        assert len(refused) == 3
    await owner.press_data(f"as:{assignment.id}:accept")
    assert "성산로 12, 101호" in owner.last.text


async def test_decline_with_a_reason_puts_the_order_back_in_the_queue(db: Database, place: Place) -> None:
    staff, provider = await joined_staff(db, place)
    first = await assign_new_order(db, place, provider.id)  # type: ignore[arg-type]
    second = await assign_new_order(db, place, provider.id)  # type: ignore[arg-type]
    await staff.press_data(f"as:{first.id}:decline")
    assert set(staff.buttons()) >= {"인력 부족", "일정 불가", "지역 밖", "기타"}
    await staff.press("일정 불가")
    assert "통합창구로 돌아갔고" in staff.last_texts(2)
    await staff.press_data(f"as:{second.id}:decline")
    await staff.press("기타")
    await staff.say("배달 차량 고장")
    print("\n".join(staff.transcript))
    async with db.sessions() as s:
        for a, reason in ((first, "일정 불가"), (second, "기타: 배달 차량 고장")):
            order = await orders.get(s, order_id=a.order_id)
            assert order.status == "screening"
            last = (await orders.list_history(s, order_id=order.id))[-1]  # type: ignore[arg-type]
            assert (last.action, last.to_status, last.reason, last.actor_kind, last.channel) == (
                "return",
                "screening",
                reason,
                "provider",
                "telegram",
            )
            assert await store.current_assignment(s, order.id) is None  # type: ignore[arg-type]
            assert (await s.get(Assignment, a.id)).status == "declined"  # type: ignore[union-attr]
    # pressing the old notice again changes nothing
    await staff.press_data(f"as:{first.id}:accept")
    assert gettext(provider_tasks.MSG_NOT_WAITING, "ko") in staff.last.text


async def test_more_units_than_planned_needs_the_desk(db: Database, place: Place) -> None:
    staff, provider = await joined_staff(db, place)
    assignment = await assign_new_order(db, place, provider.id, units=20)  # type: ignore[arg-type]
    await staff.press_data(f"as:{assignment.id}:accept")
    await staff.press("진행 시작")
    await staff.press("완료")
    await staff.say("22식")
    await staff.say("2식은 이웃 어르신 몫까지 드림")
    assert gettext(provider_tasks.MSG_NEEDS_APPROVAL, "ko") in staff.last_texts(2)
    async with db.sessions() as s:
        order = await orders.get(s, order_id=assignment.order_id)
        assert order.status == "in_progress"
        # The desk was told (the refusal's transaction committed), with what was asked.
        notice = (await s.execute(select(DeskNotice).where(DeskNotice.kind == "approval_needed"))).scalar_one()
        assert notice.order_id == order.id and "22식" in notice.title and "20식" in notice.body
        assert "이웃 어르신" in notice.body
    # The desk records it: without the approval box it is refused, with it the 22 meals are recorded.
    desk = Actor(kind="operator", name="김창구", channel="console")
    access = Access(operator_id=None, username="김창구", ip=None, district_id=place.district_id, role="operator")
    async with db.transaction() as s:
        with pytest.raises(RuleViolation):
            await queue.act(
                s,
                access=access,
                order_id=order.id,
                action="complete",
                actor=desk,
                expected_version=order.version,
                units=22,
            )  # type: ignore[arg-type]
    async with db.transaction() as s:
        done = await queue.act(
            s,
            access=access,
            order_id=order.id,
            action="complete",
            actor=desk,
            expected_version=order.version,
            units=22,
            approved=True,  # type: ignore[arg-type]
        )
    assert (done.status, done.delivered_units) == ("done", 22)


async def test_today_lists_accepted_orders_by_date(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    staff, provider = await joined_staff(db, place)
    later = await assign_new_order(db, place, provider.id, requested_date=date(2026, 11, 25))  # type: ignore[arg-type]
    today = await assign_new_order(
        db, place, provider.id, requested_date=date(2026, 11, 23), service_code="escort", units=2
    )  # type: ignore[arg-type]
    waiting = await assign_new_order(db, place, provider.id, requested_date=date(2026, 11, 23))  # type: ignore[arg-type]
    for a in (later, today):
        await staff.press_data(f"as:{a.id}:accept")
    await staff.say("/start")
    await staff.press("오늘 할 일")
    texts = [m.text for m in staff.sent()[-3:]]
    assert "오늘과 앞으로 할 일" in texts[0]
    assert "이동지원 2시간" in texts[1] and "식사지원 20식" in texts[2]
    await staff.say("/start")
    await staff.press("수락을 기다리는 배정")
    assert "순자 님" in staff.last.text and "성산로" not in staff.last.text
    assert set(staff.buttons()) == {"수락", "거절", "메뉴로"}
    await staff.press("수락")
    assert "성산로 12, 101호" in staff.last.text
    async with db.sessions() as s:
        assert (await s.get(Assignment, waiting.id)).status == "accepted"  # type: ignore[union-attr]
    async with db.sessions() as s:
        rows = list((await s.execute(select(Outbox).where(Outbox.chat_id == str(staff.user_id)))).scalars())
        assert len(rows) == 3


async def test_a_malformed_assignment_button_changes_nothing(db: Database, place: Place) -> None:
    staff, provider = await joined_staff(db, place)
    assignment = await assign_new_order(db, place, provider.id)  # type: ignore[arg-type]
    for data in (f"as:{assignment.id}:delete", "as:x:accept", f"as:{assignment.id + 99}:accept"):  # type: ignore[operator]
        await staff.press_data(data)
    assert "쓸 수 없어요" in staff.sent()[-2].text
    async with db.sessions() as s:
        assert (await orders.get(s, order_id=assignment.order_id)).status == "assigned"
