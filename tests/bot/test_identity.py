"""Who is talking (issue 9 §1), through the real aiogram Dispatcher: a second account that types an
existing resident's name and phone gets nothing of theirs; only the person's own shared contact binds."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from care import checkins, identity
from care.auth import Access
from dolbom import clock
from dolbom.errors import NotFound
from storage.db import Database
from storage.models import CheckinSlot, Conversation, FamilyContact, Operator, Order, Outbox, Resident, ResidentChannel
from tests.bot.flow_steps import SERVICE_BUTTON, full_request, service_questions
from tests.bot.harness import Person
from tests.factories import Place, make_order, make_resident

OWNER, STRANGER = 5550001, 5550999
PHONE = "+821012345678"
SEOUL = ZoneInfo("Asia/Seoul")


async def request_for_self(
    p: Person,
    *,
    name: str = "김영희",
    typed_phone: str | None = "010-1234-5678",
    contact: str | None = None,
    contact_owner: int | None = 0,
    address: str = "합정로 99",
    service: str = "meals",
) -> None:
    """A request for oneself, the phone typed (default) or shared as a contact card."""
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press(SERVICE_BUTTON[service])
    await p.press("본인")
    await p.say(name)
    if contact is not None:
        await p.share_contact(contact, owner_id=contact_owner)
    else:
        assert typed_phone is not None
        await p.say(typed_phone)
    await p.press(list(p.buttons())[1])  # another dong than the owner's
    await p.say(address)
    await p.say("1950년생")
    await p.press("아니요")
    await p.press("아니요")
    await p.press("아니요")
    await p.press("아니요")
    await p.press("일반")
    await service_questions(p, service)
    await p.press("가능한 빨리")
    await p.press("없어요")
    await p.press("동의합니다")
    await p.press("동의합니다")
    await p.press("신청하기")


def _record(resident: Resident) -> dict[str, Any]:
    return resident.model_dump()


async def _owner_with_orders(db: Database, place: Place) -> tuple[Person, Resident, list[Order]]:
    """The real 김영희: her own Telegram account (verified by her shared contact), her request, and one
    the desk took for her by phone."""
    owner = Person(db, user_id=OWNER)
    await full_request(owner, "meals")
    async with db.transaction() as s:
        resident = (await s.execute(select(Resident))).scalar_one()
        by_desk = await make_order(s, resident, service_code="housing", units=2)
        own = (
            await s.execute(select(Order).where(Order.resident_id == resident.id, Order.id != by_desk.id))
        ).scalar_one()
    return owner, resident, [own, by_desk]


async def _cancel_forged(p: Person, db: Database, order_id: int) -> None:
    """Send the callbacks a forger would: 'cancel order N' and then 'yes', each with the current nonce."""
    for value in (f"c{order_id}", "yes"):
        async with db.sessions() as s:
            state = (
                (await s.execute(select(Conversation).where(Conversation.user_key == str(p.user_id))))
                .scalar_one()
                .state
            )
        await p.press_data(f"n{state.get('n', 0)}:{value}")


async def test_a_second_account_typing_an_existing_residents_name_and_phone_sees_none_of_their_orders(
    db: Database, place: Place
) -> None:
    _owner, resident, theirs = await _owner_with_orders(db, place)
    async with db.sessions() as s:
        before = _record(await s.get(Resident, resident.id))  # type: ignore[arg-type]

    stranger = Person(db, user_id=STRANGER, name="낯선이")
    await request_for_self(stranger, address="합정로 99")
    await stranger.say("/start")
    await stranger.press("내 신청 보기")
    listing = stranger.last.text
    async with db.sessions() as s:
        asked = (await s.execute(select(Order).where(Order.requested_by_key == str(STRANGER)))).scalar_one()
    assert asked.receipt_no in listing  # what the stranger asked for is theirs to see
    for order in theirs:
        assert order.receipt_no not in listing
        assert f"{order.receipt_no} 취소하기" not in stranger.buttons()

    # A forged callback cancels nothing, and care refuses it too.
    for order in theirs:
        await _cancel_forged(stranger, db, order.id)  # type: ignore[arg-type]
    async with db.transaction() as s:
        for order in theirs:
            assert (await s.get(Order, order.id)).status == "received"  # type: ignore[union-attr]
            try:
                await identity.cancel_mine(
                    s,
                    channel="telegram",
                    user_key=str(STRANGER),
                    order_id=order.id,
                    reason="x",  # type: ignore[arg-type]
                )
            except NotFound:
                pass
            else:  # pragma: no cover - the failure this test exists for
                raise AssertionError("a stranger cancelled someone else's order")

    async with db.sessions() as s:
        # Nothing of her record changed: not the address, not the dong, not the birth year.
        assert _record(await s.get(Resident, resident.id)) == before  # type: ignore[arg-type]
        # The stranger's request went to a record of its own, marked as possibly her.
        provisional = await s.get(Resident, asked.resident_id)
        assert provisional is not None and provisional.id != resident.id
        assert provisional.same_as_id == resident.id
        assert asked.proposed["address"] == "합정로 99" and asked.proposed["birth_year"] == 1950
        claim = (await s.execute(select(ResidentChannel).where(ResidentChannel.user_key == str(STRANGER)))).scalar_one()
        assert claim.resident_id == provisional.id and claim.verified_at is None


async def test_a_second_account_gets_none_of_the_residents_check_ins_even_when_her_chat_is_unreachable(
    db: Database, place: Place
) -> None:
    owner, resident, _ = await _owner_with_orders(db, place)
    stranger = Person(db, user_id=STRANGER, name="낯선이")
    await request_for_self(stranger)
    clock.set_now(datetime(2026, 12, 7, 9, 0, tzinfo=SEOUL))  # a Monday
    async with db.transaction() as s:
        await checkins.set_schedule(s, resident_id=resident.id, weekdays=list(range(7)), at_minute=600)  # type: ignore[arg-type]
    await owner.block()  # her real chat becomes unreachable
    clock.set_now(datetime(2026, 12, 7, 10, 0, tzinfo=SEOUL))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    async with db.sessions() as s:
        slot = (await s.execute(select(CheckinSlot))).scalar_one()
        assert slot.status == "unreachable" and slot.chat_id is None  # the desk calls her instead
        to_stranger = list((await s.execute(select(Outbox).where(Outbox.chat_id == str(STRANGER)))).scalars())
        # The stranger's only message is the receipt of their own request.
        assert [m.kind for m in to_stranger] == ["receipt"]
        asked = (await s.execute(select(Order).where(Order.requested_by_key == str(STRANGER)))).scalar_one()
        assert to_stranger[0].ref == f"order:{asked.id}"


async def test_a_shared_contact_of_someone_else_does_not_bind(db: Database, place: Place) -> None:
    _owner, resident, theirs = await _owner_with_orders(db, place)
    stranger = Person(db, user_id=STRANGER, name="낯선이")
    # A contact card of 김영희 herself (her Telegram id inside), forwarded by the stranger.
    await request_for_self(stranger, contact=PHONE, contact_owner=OWNER)
    await stranger.say("/start")
    await stranger.press("내 신청 보기")
    for order in theirs:
        assert order.receipt_no not in stranger.last.text
    async with db.sessions() as s:
        claim = (await s.execute(select(ResidentChannel).where(ResidentChannel.user_key == str(STRANGER)))).scalar_one()
        assert claim.verified_at is None and claim.resident_id != resident.id
        assert await identity.verified_resident(s, channel="telegram", user_key=str(STRANGER)) is None
    # A contact card without any Telegram id binds no more than a typed number.
    other = Person(db, user_id=5550777, name="또다른이")
    await request_for_self(other, contact=PHONE, contact_owner=None)
    async with db.sessions() as s:
        assert await identity.verified_resident(s, channel="telegram", user_key="5550777") is None


async def test_a_verified_contact_binds_and_then_sees_the_residents_orders(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        resident = await make_resident(s, place, name="김영희", phone=PHONE, address="망원로 12, 3층")
        by_desk = await make_order(s, resident, service_code="housing", units=2)
        before = _record(resident)
    person = Person(db, user_id=OWNER)
    await request_for_self(person, contact="821012345678", address="성미산로 5")
    await person.say("/start")
    await person.press("내 신청 보기")
    assert by_desk.receipt_no in person.last.text
    assert f"{by_desk.receipt_no} 취소하기" in person.buttons()
    async with db.sessions() as s:
        binding = (await s.execute(select(ResidentChannel))).scalar_one()
        assert binding.resident_id == resident.id and binding.verified_how == "telegram_contact"
        mine = (await s.execute(select(Order).where(Order.requested_by_key == str(OWNER)))).scalar_one()
        assert mine.resident_id == resident.id  # her own record, no second one
        # Even she does not write over the record: the new address waits for the desk.
        assert _record(await s.get(Resident, resident.id)) == before  # type: ignore[arg-type]
        assert mine.proposed["address"] == "성미산로 5"
    await person.press(f"{by_desk.receipt_no} 취소하기")
    await person.press("네, 취소할게요")
    async with db.sessions() as s:
        assert (await s.get(Order, by_desk.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_an_edited_phone_after_sharing_the_contact_is_no_longer_verified(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        await make_resident(s, place, name="김영희", phone="+821099998888")
    p = Person(db, user_id=OWNER)
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    typed = await p.say("010-5555-6666")
    await p.edit(typed, "010-9999-8888")  # now her number, but typed
    async with db.sessions() as s:
        state = (await s.execute(select(Conversation))).scalar_one().state
    assert state["a"]["phone"] == "+821099998888" and state["a"]["phone_verified"] is False


async def test_check_ins_ask_for_the_own_contact_before_they_start(db: Database, place: Place) -> None:
    p = Person(db, user_id=OWNER)
    await request_for_self(p, name="최말순", typed_phone="010-2222-3333")
    await p.say("/start")
    await p.press("안부 확인 받기")
    assert "내 전화번호 보내기" in p.keyboard()
    await p.share_contact("821022223333", owner_id=STRANGER)  # not her own card
    async with db.sessions() as s:
        assert await identity.verified_resident(s, channel="telegram", user_key=str(OWNER)) is None
    await p.share_contact("821022223333")
    assert "요일" in p.last.text
    async with db.sessions() as s:
        binding = (await s.execute(select(ResidentChannel))).scalar_one()
        assert binding.verified_how == "telegram_contact"


async def test_a_family_account_sees_only_what_it_asked_for(db: Database, place: Place) -> None:
    _owner, _resident, theirs = await _owner_with_orders(db, place)
    family = Person(db, user_id=STRANGER, name="딸")
    await family.say("/start")
    await family.press("서비스 신청")
    await family.press("식사 배달")
    await family.press("가족·이웃 대신")
    await family.press("가족")
    await family.say("김영희")
    await family.say("010-1234-5678")
    await family.say("이딸")
    await family.say("010-4444-5555")
    await family.press(next(iter(family.buttons())))
    await family.say("망원로 12, 3층")
    for _ in range(5):
        await family.press(next(iter(family.buttons())))
    await family.press("일반")
    await family.press("10식")
    await family.press("가능한 빨리")
    await family.press("없어요")
    await family.press("동의합니다")
    await family.press("동의하지 않아요")
    await family.press("신청하기")
    await family.say("/start")
    await family.press("내 신청 보기")
    for order in theirs:
        assert order.receipt_no not in family.last.text
    async with db.sessions() as s:
        contact = (await s.execute(select(FamilyContact))).scalar_one()
        assert contact.verified_at is None and contact.consent_version is not None
        asked = (await s.execute(select(Order).where(Order.requested_by_key == str(STRANGER)))).scalar_one()
        assert asked.receipt_no in family.last.text and asked.source == "family"


async def test_the_desks_confirmation_binds_a_chat_and_it_then_sees_her_orders(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        resident = await make_resident(s, place, name="김영희", phone=PHONE)
        by_desk = await make_order(s, resident, service_code="housing", units=2)
        op = Operator(username="mapo", password_hash="x", role="operator", district_id=place.district_id)
        s.add(op)
        await s.flush()
        access = Access(operator_id=op.id, username="mapo", ip=None, district_id=place.district_id, role="operator")
    person = Person(db, user_id=OWNER)
    await request_for_self(person)  # typed: her record stays hers, the chat's request waits beside it
    await person.say("/start")
    await person.press("내 신청 보기")
    assert by_desk.receipt_no not in person.last.text
    async with db.transaction() as s:
        asked = (await s.execute(select(Order).where(Order.requested_by_key == str(OWNER)))).scalar_one()
        await identity.merge(s, resident_id=asked.resident_id, access=access)  # the desk called her: it is her
        binding = await identity.get_binding(s, channel="telegram", user_key=str(OWNER))
        assert binding is not None and binding.verified_at is None
        await identity.confirm(s, resident_id=resident.id, binding_id=binding.id, access=access)  # type: ignore[arg-type]
    await person.say("/start")
    await person.press("내 신청 보기")
    assert by_desk.receipt_no in person.last.text and asked.receipt_no in person.last.text
    async with db.sessions() as s:
        binding = await identity.get_binding(s, channel="telegram", user_key=str(OWNER))
        assert binding is not None and (binding.verified_how, binding.verified_by) == ("desk", op.id)
        assert binding.verified_at is not None
