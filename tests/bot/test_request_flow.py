"""The resident / family request flow through the real aiogram Dispatcher, offline."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from aiogram.methods import AnswerCallbackQuery, DeleteMessage, EditMessageReplyMarkup
from sqlalchemy import func, select

from care import orders
from dolbom import clock
from storage import conversations, models
from storage.db import Database
from storage.models import (
    Consent,
    Conversation,
    DeskMessage,
    DeskThread,
    FamilyContact,
    Inbound,
    Order,
    Outbox,
    Resident,
    ResidentChannel,
)
from tests.bot.flow_steps import full_request, up_to_consent
from tests.bot.harness import Person
from tests.factories import DESK, Place, decide_eligible, make_order, make_provider


@pytest.mark.parametrize(
    "service", ["meals", "escort", "home_care", "housing", "short_stay", "checkin", "health", "info"]
)
async def test_a_full_request_for_each_service_makes_one_order_and_a_receipt(
    db: Database, person: Person, service: str
) -> None:
    await full_request(person, service)
    async with db.sessions() as s:
        orders = list((await s.execute(select(Order))).scalars())
        assert len(orders) == 1
        order = orders[0]
        assert order.service_code == service
        assert order.source == "resident"
        assert order.requested_by_channel == "telegram"
        resident = await s.get(Resident, order.resident_id)
        assert resident is not None and resident.name == "김영희" and resident.phone == "+821012345678"
        consents = list((await s.execute(select(Consent))).scalars())
        assert sorted(c.sensitive for c in consents) == [False, True]
        receipt = (await s.execute(select(Outbox).where(Outbox.kind == "receipt"))).scalar_one()
        assert order.receipt_no in receipt.text and receipt.chat_id == str(person.user_id)
        assert (await s.execute(select(func.count()).select_from(ResidentChannel))).scalar_one() == 1


async def test_a_family_member_asks_for_a_neighbour(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("가족·이웃 대신")
    await p.press("이웃")
    await p.say("박순자")
    assert p.keyboard() == []  # no share-contact button: that would send the asker's own number
    await p.say("010-2222-3333")
    await p.say("이철수")
    assert "내 전화번호 보내기" in p.keyboard()
    await p.share_contact("+821044445555")
    await p.press(list(p.buttons())[1])
    await p.say("성미산로 5")
    await p.press("잘 모르겠어요")
    await p.press("네")
    await p.press("네")
    await p.press("아니요")
    await p.press("네")
    await p.press("잘 모르겠어요")
    await p.press("20식")
    await p.press("가능한 빨리")
    await p.press("없어요")
    await p.press("동의합니다")
    await p.press("동의하지 않아요")  # no health details
    assert "건강·장애 정보: 저장하지 않음" in p.last.text
    assert "신청하신 분: 이철수 (이웃), 010-4444-5555" in p.last.text
    await p.press("신청하기")
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
        assert order.source == "family" and order.units == 20 and order.requested_date is None
        assert order.details == {"meals": 20, "asap": True}
        resident = await s.get(Resident, order.resident_id)
        assert resident is not None
        assert (resident.name, resident.phone) == ("박순자", "+821022223333")
        # Health details were not consented to: not stored.
        assert resident.disabled is None and resident.cannot_manage_alone is None
        assert resident.no_public_service is False and resident.no_family_care is True
        # The asker is a family contact, not the resident's own messenger account.
        contact = (await s.execute(select(FamilyContact))).scalar_one()
        assert (contact.name, contact.relation, contact.phone) == ("이철수", "neighbour", "+821044445555")
        assert contact.user_key == str(p.user_id)
        assert (await s.execute(select(func.count()).select_from(ResidentChannel))).scalar_one() == 0
        consents = list((await s.execute(select(Consent))).scalars())
        assert [c.sensitive for c in consents] == [False]


async def test_consent_refused_stores_nothing_and_offers_a_call(db: Database, person: Person) -> None:
    p = person
    await up_to_consent(p, "escort", name="최말순")
    await p.press("동의하지 않아요")
    assert "대신 통합창구에서 전화를 드릴까요?" in p.last.text
    async with db.sessions() as s:
        # Nothing of the request stays, not even in the conversation state.
        conversation = (await s.execute(select(Conversation))).scalar_one()
        assert "최말순" not in json.dumps(conversation.state, ensure_ascii=False)
        assert "망원로" not in json.dumps(conversation.state, ensure_ascii=False)
    await p.press("네")
    assert "내 전화번호 보내기" in p.keyboard()
    await p.say("010-7777-8888")
    assert "곧 전화드릴게요" in p.last_texts(2)
    async with db.sessions() as s:
        for table in (Order, Resident, Consent, ResidentChannel, Outbox):
            assert (await s.execute(select(func.count()).select_from(table))).scalar_one() == 0
        thread = (await s.execute(select(DeskThread))).scalar_one()
        assert thread.reason == "no_consent_callback" and thread.resident_id is None
        message = (await s.execute(select(DeskMessage))).scalar_one()
        assert "010-7777-8888" in message.text and "최말순" not in message.text


async def test_consent_refused_and_no_call_keeps_nothing(db: Database, person: Person) -> None:
    await up_to_consent(person, "housing")
    await person.press("동의하지 않아요")
    await person.press("아니요")
    assert "아무것도 저장하지 않았어요" in person.last_texts(2)
    async with db.sessions() as s:
        for table in (Order, Resident, Consent, DeskThread, DeskMessage):
            assert (await s.execute(select(func.count()).select_from(table))).scalar_one() == 0


async def test_a_restart_mid_flow_continues_at_the_same_question(db: Database, db_url: str, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    assert "전화번호를 알려 주세요" in p.last.text
    await db.dispose()
    # A new process: new engine, new Dispatcher and Bot, same database.
    fresh = Database(db_url)
    try:
        p.restart(fresh)
        await p.say("010-1234-5678")
        assert "전화번호: 010-1234-5678" in p.last_texts(2)
        assert "어느 동에 사세요?" in p.last.text
    finally:
        await fresh.dispose()


async def test_the_same_update_delivered_twice_is_handled_once(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    update = p.update(message=p.message(text="처음으로"))
    await p.feed(update)
    count = len(p.sent())
    await p.feed(update)
    assert len(p.sent()) == count
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Inbound))).scalar_one() == 2


async def test_a_double_tap_on_send_makes_one_order(db: Database, person: Person) -> None:
    p = person
    await up_to_consent(p)
    await p.press("동의합니다")
    await p.press("동의합니다")
    data = p.buttons()["신청하기"]
    await p.press_data(data)
    await p.press_data(data)
    assert "이 신청은 이미 보냈어요. 접수번호:" in p.last.text
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Order))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Outbox))).scalar_one() == 1


async def test_two_taps_at_the_same_moment_make_one_order(db: Database, person: Person) -> None:
    p = person
    await up_to_consent(p)
    await p.press("동의합니다")
    await p.press("동의합니다")
    data = p.buttons()["신청하기"]
    # Both taps reach the inbox before either is handled.
    await p.feed(p.callback_update(data), p.callback_update(data))
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Order))).scalar_one() == 1


async def _all_text(db: Database) -> str:
    """Every text and JSON value of every table, as one string."""
    parts: list[str] = []
    async with db.sessions() as s:
        for table in models.metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                for value in row:
                    if isinstance(value, str):
                        parts.append(value)
                    elif isinstance(value, (dict, list)):
                        parts.append(json.dumps(value, ensure_ascii=False))
    return "\n".join(parts)


async def test_a_registration_number_typed_as_the_name_leaves_no_trace(
    db: Database, person: Person, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희 420315-2864913")
    assert "주민등록번호" in p.last_texts(2)
    assert "성함이 어떻게 되세요?" in p.last.text  # asked again
    assert p.calls_of(DeleteMessage), "the message is taken out of the chat too"
    await p.say("4203152864913")  # without the dash
    await p.say("김영희")
    await p.share_contact("+821012345678")
    await p.press(next(iter(p.buttons())))
    await p.say("망원로 12")
    await p.say("1942")
    for answer in ("아니요", "네", "네", "아니요", "일반", "5식", "가능한 빨리"):
        await p.press(answer)
    await p.say("제 번호는 420315 2864913 이에요")  # in the notes too
    await p.press("없어요")
    await p.press("동의합니다")
    await p.press("동의합니다")
    await p.press("신청하기")
    stored = await _all_text(db)
    assert "김영희" in stored  # the search does see the request
    for trace in ("2864913", "420315"):
        assert trace not in stored
        assert trace not in caplog.text
    async with db.sessions() as s:
        assert (await s.execute(select(Order))).scalar_one().notes is None


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "location"])
async def test_stickers_photos_voice_and_locations_get_a_kind_note(db: Database, person: Person, kind: str) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.junk(kind)
    assert "글자나 버튼으로 알려 주세요." in p.last_texts(2)
    assert "어떤 도움이 필요하세요?" in p.last.text  # the same question again
    await p.press("식사 배달")
    assert "누구를 위한 신청인가요?" in p.last.text


async def test_a_very_long_message_is_refused_kindly(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("상담원과 이야기하기")
    await p.say("가" * 1001)
    assert "1,000자보다 짧게" in p.last.text
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(DeskMessage))).scalar_one() == 0


async def test_a_stale_button_gets_a_note_and_changes_nothing(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    old = p.buttons()
    await p.press("식사 배달")
    await p.press_data(old["정보·상담"])
    assert "지난 메시지의 버튼" in p.last.text
    await p.press("본인")
    await p.say("김영희")
    async with db.sessions() as s:
        state = (await s.execute(select(Conversation))).scalar_one().state
        assert state["a"]["service"] == "meals" and state["step"] == "phone"


async def test_an_edited_answer_before_sending_changes_it(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    name_message = await p.say("김영히")
    await p.share_contact("+821012345678")
    await p.press(next(iter(p.buttons())))
    address_message = await p.say("망원로 21")
    await p.edit(name_message, "김영희")
    assert "답을 고쳤어요" in p.last_texts(2)
    assert "몇 년생이세요?" in p.last.text  # and the same question again
    await p.edit(address_message, "망원로 12")
    await p.edit(name_message, "김영희 420315-2864913")
    assert "주민등록번호" in p.last_texts(2)
    await p.say("1942")
    for answer in ("아니요", "네", "네", "아니요", "일반", "5식", "가능한 빨리", "없어요", "동의합니다", "동의합니다"):
        await p.press(answer)
    assert "성함: 김영희" in p.last.text and "망원로 12" in p.last.text
    await p.press("신청하기")
    await p.edit(name_message, "박영희")
    assert "더 고칠 수 없어요" in p.last.text
    async with db.sessions() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
        assert (resident.name, resident.address) == ("김영희", "망원로 12")


async def test_start_over_and_cancel_work_at_every_step(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    assert p.keyboard() == ["내 전화번호 보내기", "처음으로", "취소"]
    await p.say("취소")  # the plain key under the share-contact button
    assert "취소했어요" in p.last_texts(2)
    assert "무엇을 도와 드릴까요?" in p.last.text
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("처음으로")
    assert "무엇을 도와 드릴까요?" in p.last.text
    await p.press("서비스 신청")
    await p.press("취소")
    assert "취소했어요" in p.last_texts(2)
    await p.say("/cancel")
    assert "무엇을 도와 드릴까요?" in p.last.text
    async with db.sessions() as s:
        state = (await s.execute(select(Conversation))).scalar_one().state
        assert state["flow"] == "home" and not state.get("a")


async def test_cancel_a_request_from_my_requests(db: Database, person: Person) -> None:
    p = person
    await full_request(p, "meals")
    await full_request(p, "housing")
    async with db.sessions() as s:
        meals, housing = (await s.execute(select(Order).order_by(Order.id))).scalars().all()
        await orders.screen(s, order_id=housing.id, actor=DESK)
        await s.commit()
    await p.say("/start")
    await p.press("내 신청 보기")
    assert f"{meals.receipt_no} 식사지원: 접수" in p.last.text
    assert f"{housing.receipt_no} 주거편의: 검토" in p.last.text
    await p.press(f"{meals.receipt_no} 취소하기")
    assert "신청을 취소할까요?" in p.last.text
    await p.press("네, 취소할게요")
    assert f"{meals.receipt_no} 신청을 취소했어요." in p.last_texts(2)
    assert f"{meals.receipt_no} 식사지원: 취소" in p.last.text
    assert f"{meals.receipt_no} 취소하기" not in p.buttons()
    async with db.sessions() as s:
        assert (await s.get(Order, meals.id)).status == "cancelled"  # type: ignore[union-attr]
        assert (await s.get(Order, housing.id)).status == "screening"  # type: ignore[union-attr]


async def test_an_assigned_request_cannot_be_cancelled_in_the_chat(db: Database, person: Person, place: Place) -> None:
    p = person
    await full_request(p, "meals")
    await p.say("/start")
    await p.press("내 신청 보기")
    data = p.buttons()
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
        provider = await make_provider(s, place)
        await orders.screen(s, order_id=order.id, actor=DESK)
        await decide_eligible(s, order.resident_id)  # a chat request's person: the desk decides first
        await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)
        await s.commit()
    await p.press_data(data[f"{order.receipt_no} 취소하기"])
    await p.press("네, 취소할게요")
    assert "여기서는 취소할 수 없어요" in p.last_texts(2)
    async with db.sessions() as s:
        assert (await s.get(Order, order.id)).status == "assigned"  # type: ignore[union-attr]


async def test_someone_else_cannot_cancel_my_request(db: Database, person: Person) -> None:
    await full_request(person, "meals")
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
    other = Person(db, user_id=5550999)
    await other.say("/start")
    await other.press("내 신청 보기")
    assert "아직 신청하신 것이 없어요." in other.last.text
    nonce = other.buttons()["처음으로"]  # any button of the newest question carries its nonce
    cancel = next(d for d in other.buttons().values() if d.startswith("g:cancel:")).split(":")[-1]
    assert nonce == "g:home"
    await other.press_data(f"n{cancel}:c{order.id}")
    async with db.sessions() as s:
        assert (await s.get(Order, order.id)).status == "received"  # type: ignore[union-attr]


async def test_english_when_telegram_says_english(db: Database, place: Place) -> None:
    p = Person(db, language="en")
    await p.say("/start")
    assert "What can we do for you?" in p.last.text
    assert "Ask for a service" in p.buttons()


async def test_blocking_the_bot_marks_the_person_unreachable(db: Database, person: Person) -> None:
    await full_request(person, "meals")
    await person.block()
    async with db.sessions() as s:
        assert (await s.execute(select(ResidentChannel))).scalar_one().reachable is False
    await person.block(kicked=False)
    async with db.sessions() as s:
        assert (await s.execute(select(ResidentChannel))).scalar_one().reachable is True


async def test_talk_to_the_desk_stores_the_messages(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("상담원과 이야기하기")
    await p.say("어머니가 요즘 식사를 잘 못 하세요")
    await p.say("오후에 전화 주세요")
    assert "창구에 전했어요" in p.last.text
    await p.say("주민번호는 420315-2864913 입니다")
    async with db.sessions() as s:
        thread = (await s.execute(select(DeskThread))).scalar_one()
        assert thread.reason == "talk" and thread.channel == "telegram"
        texts = [m.text for m in (await s.execute(select(DeskMessage).order_by(DeskMessage.id))).scalars()]
        assert texts == ["어머니가 요즘 식사를 잘 못 하세요", "오후에 전화 주세요"]


async def test_each_button_press_is_answered_and_its_buttons_removed(db: Database, person: Person) -> None:
    await person.say("/start")
    await person.press("서비스 신청")
    assert len(person.calls_of(AnswerCallbackQuery)) == 1
    assert len(person.calls_of(EditMessageReplyMarkup)) == 1


async def test_a_reply_refused_with_403_marks_the_person_unreachable(db: Database, person: Person) -> None:
    await full_request(person, "meals")
    person.session.blocked = True
    await person.say("/start")
    async with db.sessions() as s:
        assert (await s.execute(select(ResidentChannel))).scalar_one().reachable is False


async def test_quick_messages_of_one_person_are_applied_in_order(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    first = p.update(message=p.message(text="김영희"))
    second = p.update(message=p.message(text="010-1234-5678"))
    await p.feed(first, second)
    async with db.sessions() as s:
        state = (await s.execute(select(Conversation))).scalar_one().state
    assert (state["a"]["name"], state["a"]["phone"], state["step"]) == ("김영희", "+821012345678", "dong")


async def test_idle_unfinished_requests_are_forgotten(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    async with db.transaction() as s:
        assert await conversations.forget_idle(s, idle_since=clock.now() - timedelta(days=1)) == 0
        assert await conversations.forget_idle(s, idle_since=clock.now() + timedelta(seconds=1)) == 1
        assert await conversations.purge_processed(s, before=clock.now() + timedelta(seconds=1)) == 5
    assert "김영희" not in await _all_text(db)
    await p.say("010-1234-5678")
    assert "무엇을 도와 드릴까요?" in p.last.text  # the unfinished request is gone: back at the menu


async def test_my_requests_include_those_the_desk_took_by_phone(db: Database, person: Person, place: Place) -> None:
    await full_request(person, "meals")
    async with db.transaction() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
        by_phone = await make_order(s, resident, service_code="housing", units=2)
    await person.say("/start")
    await person.press("내 신청 보기")
    assert f"{by_phone.receipt_no} 주거편의: 접수" in person.last.text
    await person.press(f"{by_phone.receipt_no} 취소하기")
    await person.press("네, 취소할게요")
    async with db.sessions() as s:
        assert (await s.get(Order, by_phone.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_before_any_district_is_set_up_the_bot_says_so_kindly(db: Database) -> None:
    p = Person(db)
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    await p.say("010-1234-5678")
    assert "아직 지역 설정을 마치지 않았어요" in p.last_texts(2)
    await p.press("처음으로")
    await p.press("상담원과 이야기하기")
    await p.say("전화 주세요")
    assert "창구에 전했어요" in p.last.text
