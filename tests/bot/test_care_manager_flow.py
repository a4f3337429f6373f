"""The care manager's referral through the real Dispatcher: own dong only, a plan of services, status."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from care import orders
from care.referrals import MSG_OTHER_DONG
from dolbom import clock
from dolbom.i18n import gettext
from storage.db import Database
from storage.models import AccessLog, Order, Referral, Resident
from tests.bot.care_people import joined_care_manager, notices_to, show_notice
from tests.bot.harness import Person
from tests.factories import DESK, Place, make_provider, make_resident

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul


async def refer_two_services(person: Person) -> None:
    """의뢰하기 for 박순자 (found by name + 5678): 식사 20식 from 12월 1일, 이동지원 2시간 on 12월 3일."""
    await person.press("의뢰하기")
    await person.say("박순자")
    await person.say("5678")
    await person.press(next(b for b in person.buttons() if b.startswith("박순자")))
    await person.press("식사지원")
    await person.press("20식")
    await person.say("12월 1일")
    await person.press("서비스 더 넣기")
    await person.press("이동지원")
    await person.say("2시간")
    await person.say("12월 3일")
    await person.press("다음")
    await person.press("긴급")
    await person.say("혼자 사시고 거동이 불편하심. 12/3 정형외과 진료 동행 필요")
    await person.press("네, 동의를 받았어요")
    await person.press("의뢰하기")


async def test_referral_with_two_services_makes_two_linked_orders(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    async with db.transaction() as s:
        resident = await make_resident(s, place, name="박순자", phone="+821012345678", address="성산로 12, 101호")
    person, manager = await joined_care_manager(db, place)
    await refer_two_services(person)
    print("\n".join(person.transcript))
    async with db.sessions() as s:
        referral = (await s.execute(select(Referral))).scalar_one()
        assert (referral.care_manager_id, referral.resident_id, referral.urgency) == (manager.id, resident.id, "urgent")
        made = list((await s.execute(select(Order).order_by(Order.id))).scalars())
        assert [(o.service_code, o.units, o.requested_date, o.source, o.referral_id) for o in made] == [
            ("meals", 20, date(2026, 12, 1), "care_manager", referral.id),
            ("escort", 2, date(2026, 12, 3), "care_manager", referral.id),
        ]
        assert all(o.notes and "정형외과" in o.notes for o in made)
        history = await orders.list_history(s, order_id=made[0].id)  # type: ignore[arg-type]
        assert (history[0].actor_kind, history[0].actor_id, history[0].channel) == (
            "care_manager",
            manager.id,
            "telegram",
        )
    assert made[0].receipt_no in person.last_texts(3) and made[1].receipt_no in person.last_texts(3)
    assert set(person.buttons()) == {"의뢰하기", "내 의뢰 현황", gettext("Ask the desk")}


async def test_looking_up_a_resident_of_another_dong_is_refused_and_logged(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        other = await make_resident(s, place, name="정말순", phone="+821055554321", dong_id=place.dongs[1].id)
    person, manager = await joined_care_manager(db, place, dong_index=0)
    await person.press("의뢰하기")
    await person.say("정말순")
    await person.say("4321")
    print("\n".join(person.transcript))
    assert gettext(MSG_OTHER_DONG, "ko") in person.last_texts(2)
    assert "정말순 님은 아직 등록되지" not in person.last_texts(3)
    assert set(person.buttons()) == {"의뢰하기", "내 의뢰 현황", gettext("Ask the desk")}
    async with db.sessions() as s:
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "care_manager_refused"))).scalar_one()
        assert logged.resident_id == other.id and logged.username == f"care_manager:{manager.id}:이민정"
        assert (await s.execute(select(Referral))).first() is None


async def test_a_new_resident_is_registered_in_the_managers_dong(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    person, manager = await joined_care_manager(db, place)
    await person.press("의뢰하기")
    await person.say("김영자")
    await person.say("1111")
    assert "아직 등록되지 않았어요" in person.last_texts(2)
    await person.say("010-2222-1111")
    await person.say("성산로 7, 202호")
    await person.say("1941")
    await person.press("식사지원")
    await person.press("10식")
    await person.press("내일")
    await person.press("다음")
    await person.press("보통")
    await person.press("적을 내용 없어요")
    await person.press("네, 동의를 받았어요")
    assert "새로 등록: 010-2222-1111" in person.last.text
    await person.press("의뢰하기")
    async with db.sessions() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
        assert (resident.name, resident.phone, resident.dong_id, resident.birth_year) == (
            "김영자",
            "+821022221111",
            manager.dong_id,
            1941,
        )
        order = (await s.execute(select(Order))).scalar_one()
        assert (order.units, order.requested_date, order.urgency) == (10, date(2026, 11, 24), "normal")


async def test_without_consent_nothing_is_saved(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        await make_resident(s, place, name="박순자", phone="+821012345678")
    person, _manager = await joined_care_manager(db, place)
    await person.press("의뢰하기")
    await person.say("박순자")
    await person.say("5678")
    await person.press(next(b for b in person.buttons() if b.startswith("박순자")))
    await person.press("안부확인")
    await person.press("1회")
    await person.press("날짜는 통합창구와 정할게요")
    await person.press("다음")
    await person.press("보통")
    await person.press("적을 내용 없어요")
    await person.press("아직이에요")
    assert "저장하지 않았어요" in person.last_texts(2)
    async with db.sessions() as s:
        assert (await s.execute(select(Order))).first() is None


async def test_status_and_notices_of_my_referrals(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    async with db.transaction() as s:
        await make_resident(s, place, name="박순자", phone="+821012345678")
        provider = await make_provider(s, place, name="마포밥상협동조합")
    person, _manager = await joined_care_manager(db, place)
    await refer_two_services(person)
    async with db.transaction() as s:
        meals, escort = list((await s.execute(select(Order).order_by(Order.id))).scalars())
        for o in (meals, escort):
            await orders.screen(s, order_id=o.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=meals.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
        await orders.cancel(s, order_id=escort.id, reason="병원 예약 취소", actor=DESK)  # type: ignore[arg-type]
    await person.press("내 의뢰 현황")
    print("\n".join(person.transcript[-6:]))
    status = person.last.text
    assert "식사지원 20식" in status and "배정 (마포밥상협동조합)" in status
    assert "이동지원 2시간" in status and "취소" in status
    notices = await notices_to(db, person)
    for row in notices:
        show_notice(person, row)
    assert len(notices) == 2
    assert "마포밥상협동조합에 배정되었어요" in notices[0].text
    assert "취소되었어요. 사유: 병원 예약 취소" in notices[1].text


async def test_the_referral_summary_shows_the_expected_amounts_before_sending(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    async with db.transaction() as s:
        # 박순자: the desk decided her eligible, 수급 (the factory's decision).
        await make_resident(s, place, name="박순자", phone="+821012345678")
    person, _ = await joined_care_manager(db, place)
    await person.press("의뢰하기")
    await person.say("박순자")
    await person.say("5678")
    await person.press(next(b for b in person.buttons() if b.startswith("박순자")))
    await person.press("식사지원")
    await person.press("20식")
    await person.say("12월 1일")
    await person.press("다음")
    await person.press("보통")
    await person.press("적을 내용 없어요")
    await person.press("네, 동의를 받았어요")
    # 20 meals × 7,200 = 144,000, all public support.
    assert "예상 비용 144,000원: 공공 지원 144,000원, 본인 부담 0원" in person.last.text
    assert "의뢰하기" in person.buttons()


async def test_a_general_income_resident_pays_all_in_the_referral_summary(db: Database, place: Place) -> None:
    clock.set_now(NOW)
    async with db.transaction() as s:
        await make_resident(s, place, name="박순자", phone="+821012345678", income_tier="general")
    person, _ = await joined_care_manager(db, place)
    await person.press("의뢰하기")
    await person.say("박순자")
    await person.say("5678")
    await person.press(next(b for b in person.buttons() if b.startswith("박순자")))
    await person.press("식사지원")
    await person.press("10식")
    await person.press("내일")
    await person.press("다음")
    await person.press("보통")
    await person.press("적을 내용 없어요")
    await person.press("네, 동의를 받았어요")
    assert "예상 비용 72,000원: 공공 지원 0원, 본인 부담 72,000원" in person.last.text
    async with db.sessions() as s:
        assert (await s.execute(select(Order))).first() is None, "nothing is sent before 의뢰하기"
