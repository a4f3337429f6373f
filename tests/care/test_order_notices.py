"""What the resident's side is told about their order (care.order_notices), and the 전화 안내 list."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import identity, intake, order_notices, orders, phone_calls, surveys
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, NotFound, PermissionDenied, RuleViolation
from dolbom.i18n import gettext
from storage.models import District, OrderHistory, Outbox, PhoneCall, Referral, ResidentChannel
from tests import factories
from tests.factories import DESK
from tests.jobs.helpers import add_care_manager, resident_with_chat, seoul

WHEN = date(2026, 12, 3)


async def _notices(session: AsyncSession, chat: str) -> list[Outbox]:
    query = select(Outbox).where(Outbox.chat_id == chat, Outbox.kind == "order_notice").order_by(Outbox.id)
    return list((await session.execute(query)).scalars())


def _desk(district_id: int, role: str = "operator") -> Access:
    return Access(operator_id=None, username="desk", ip="127.0.0.1", district_id=district_id, role=role)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("햇살협동조합", "햇살협동조합이"), ("나눔센터", "나눔센터가"), ("돌봄SOS", "돌봄SOS이(가)"), ("", "")],
)
def test_the_provider_name_takes_the_subject_particle_its_last_syllable_needs(name, expected):
    assert order_notices.subject(name) == expected


async def test_the_family_member_who_asked_and_the_residents_own_account_both_hear_once(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    provider = await factories.make_provider(session, place, name="햇살협동조합")
    order = await factories.make_order(
        session, resident, requested_by_channel="telegram", requested_by_key="family", source="family"
    )
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    for chat in ("own", "family"):
        [notice] = await _notices(session, chat)
        assert "햇살협동조합이" in notice.text and order.receipt_no in notice.text
        assert notice.resident_id == resident.id and notice.district_id == place.district_id
    assert (await session.execute(select(PhoneCall))).first() is None


async def test_an_account_that_only_claims_to_be_the_resident_hears_nothing_and_the_desk_calls(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await factories.make_resident(session, place)
    session.add(ResidentChannel(resident_id=resident.id, channel="telegram", user_key="claim"))  # not verified
    await session.flush()
    provider = await factories.make_provider(session, place)
    order = await factories.make_order(session, resident)  # taken by phone: nobody's chat asked
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    assert (await session.execute(select(Outbox).where(Outbox.chat_id == "claim"))).first() is None
    [call] = (await session.execute(select(PhoneCall))).scalars().all()
    assert call.kind == "assigned" and call.resident_id == resident.id


async def test_a_reassignment_by_the_desk_is_one_message_not_finding_then_found(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    first = await factories.make_provider(session, place, name="햇살협동조합")
    second = await factories.make_provider(session, place, name="나눔센터")
    order = await factories.make_order(session, resident, requested_date=WHEN)
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=first.id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=first.id, actor=DESK)
    await orders.reassign(session, order_id=order.id, provider_id=second.id, reason="차량 고장", actor=DESK)
    notices = await _notices(session, "own")
    assert [n.ref.rsplit(":", 1)[1] for n in notices] == ["assigned", "accepted", "reassigned"]
    changed = notices[-1].text
    assert gettext("The provider who will help you has changed.") in changed
    assert "나눔센터가" in changed and "12월 3일 (목)" in changed
    assert "차량 고장" not in changed  # nobody is blamed
    assert gettext("We are finding another provider to help you. We will tell you as soon as we find one.") not in [
        n.text.split("\n", 1)[1] for n in notices
    ]


async def test_a_cancellation_by_the_desk_says_why_and_gives_the_desks_phone(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    district = await session.get(District, place.district_id)
    district.phone = "02-3153-0000"
    session.add(district)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(session, resident)
    await orders.cancel(session, order_id=order.id, reason="같은 신청이 이미 있어요", actor=DESK)
    [notice] = await _notices(session, "own")
    assert notice.text.split("\n")[1:] == [
        gettext("Your request has been cancelled."),
        gettext("Reason: {reason}", reason="같은 신청이 이미 있어요"),
        gettext("If you have a question, please call the desk at {phone}.", phone="02-3153-0000"),
    ]


async def test_a_refusal_without_a_desk_phone_says_to_call_the_desk_without_a_number(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(session, resident)
    await orders.reject(session, order_id=order.id, reason="대상 지역이 아니에요", actor=DESK)
    [notice] = await _notices(session, "own")
    assert notice.text.split("\n")[1:] == [
        gettext("We are sorry. We cannot take this request."),
        gettext("Reason: {reason}", reason="대상 지역이 아니에요"),
        gettext("If you have a question, please call the desk."),
    ]


async def test_a_person_who_cancels_in_the_chat_gets_the_chats_answer_not_a_second_notice(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(
        session, resident, requested_by_channel="telegram", requested_by_key="own", source="resident"
    )
    await identity.cancel_mine(session, channel="telegram", user_key="own", order_id=order.id, reason="필요 없어요")
    assert await _notices(session, "own") == []
    assert (await session.execute(select(PhoneCall))).first() is None


async def test_screening_and_start_tell_the_resident_nothing(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    provider = await factories.make_provider(session, place)
    order = await factories.make_order(session, resident)
    await orders.screen(session, order_id=order.id, actor=DESK)
    assert await _notices(session, "own") == []
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.start(session, order_id=order.id, actor=DESK)
    assert [n.ref.rsplit(":", 1)[1] for n in await _notices(session, "own")] == ["assigned", "accepted"]


async def test_a_date_change_is_told_once_to_the_resident_the_provider_and_the_care_manager(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    provider = await factories.make_provider(session, place)
    provider.contact_channel, provider.contact_user_key = "telegram", "prov"
    session.add(provider)
    manager = await add_care_manager(session, place, "cm")
    referral = Referral(care_manager_id=manager.id, resident_id=resident.id)
    session.add(referral)
    await session.flush()
    referral_id = referral.id
    order = await factories.make_order(session, resident, requested_date=WHEN, referral_id=referral_id)
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    before = {
        chat: len((await session.execute(select(Outbox).where(Outbox.chat_id == chat))).all())
        for chat in ("own", "prov", "cm")
    }
    await orders.change_date(session, order_id=order.id, requested_date=date(2026, 12, 5), actor=DESK)
    await orders.change_date(session, order_id=order.id, requested_date=date(2026, 12, 5), actor=DESK)  # no change
    after = {
        chat: len((await session.execute(select(Outbox).where(Outbox.chat_id == chat))).all())
        for chat in ("own", "prov", "cm")
    }
    assert {k: after[k] - before[k] for k in after} == {"own": 1, "prov": 1, "cm": 1}
    notice = (await _notices(session, "own"))[-1]
    assert notice.ref.endswith(":date_changed") and "12월 5일 (토)" in notice.text
    history = list((await session.execute(select(OrderHistory).where(OrderHistory.order_id == order.id))).scalars())
    assert [h.action for h in history].count("change_date") == 1
    with pytest.raises(ConflictError):
        await orders.change_date(session, order_id=order.id, requested_date=WHEN, actor=DESK, expected_version=1)


async def test_the_day_of_a_finished_order_stays(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(session, resident)
    await orders.cancel(session, order_id=order.id, reason="중복", actor=DESK)
    with pytest.raises(RuleViolation):
        await orders.change_date(session, order_id=order.id, requested_date=WHEN, actor=DESK)


async def test_the_phone_list_is_the_districts_own_and_only_writers_tick_it_off(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    mapo = await factories.make_district(session, name="마포구")
    eunpyeong = await factories.make_district(session, name="은평구")
    resident = await factories.make_resident(session, mapo)
    order = await factories.make_order(session, resident)
    await orders.reject(session, order_id=order.id, reason="대상이 아니에요", actor=DESK)
    [call] = (await session.execute(select(PhoneCall))).scalars().all()
    assert call.kind == "rejected" and "대상이 아니에요" in call.text
    assert await phone_calls.list_for_desk(session, access=_desk(eunpyeong.district_id)) == []
    with pytest.raises(NotFound):
        await phone_calls.mark_done(session, call_id=call.id, access=_desk(eunpyeong.district_id))
    with pytest.raises(PermissionDenied):
        await phone_calls.mark_done(session, call_id=call.id, access=_desk(mapo.district_id, role="viewer"))
    [row] = await phone_calls.list_for_desk(session, access=_desk(mapo.district_id, role="viewer"))
    assert row.name == resident.name and row.phone and row.receipt_no == order.receipt_no
    assert row.event == gettext(order_notices.EVENT_LABELS["rejected"])
    assert await phone_calls.mark_done(session, call_id=call.id, access=_desk(mapo.district_id)) is True
    assert await phone_calls.list_for_desk(session, access=_desk(mapo.district_id)) == []


async def test_a_resident_whose_chat_blocked_the_bot_is_called_instead(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    provider = await factories.make_provider(session, place)
    order = await factories.make_order(
        session, resident, requested_by_channel="telegram", requested_by_key="own", source="resident"
    )
    await intake.set_reachable(session, channel="telegram", user_key="own", reachable=False)
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    assert await _notices(session, "own") == []
    [call] = (await session.execute(select(PhoneCall))).scalars().all()
    assert call.kind == "assigned" and call.order_id == order.id


async def test_an_order_the_desk_finished_tells_the_resident_it_is_done_and_asks_nothing_later(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(session, resident, service_code="info")
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.finish_at_desk(
        session, order_id=order.id, action="desk_complete", what="기초연금 안내", by="김창구", actor=DESK
    )
    [notice] = await _notices(session, "own")
    assert notice.text.endswith(gettext("The help is done. Thank you for using the service.", "ko"))
    # A day later: the "did you receive it?" question is for what a provider delivered, not this.
    clock.set_now(seoul(2026, 12, 2, 12, 0))
    assert await surveys.send_due(session) == 0


async def test_a_referral_tells_the_resident_where_it_went_and_the_desks_phone(session):
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    place = await factories.make_district(session)
    district = await session.get(District, place.district_id)
    district.phone = "02-330-1234"
    session.add(district)
    resident = await resident_with_chat(session, place, "own")
    order = await factories.make_order(session, resident, service_code="health")
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.finish_at_desk(
        session,
        order_id=order.id,
        action="refer",
        what="방문간호 예약",
        by="김창구",
        referred_to="마포구보건소",
        actor=DESK,
    )
    [notice] = await _notices(session, "own")
    assert "마포구보건소" in notice.text and "02-330-1234" in notice.text
