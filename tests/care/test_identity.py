"""care.identity: bindings, the desk's confirmation, "possibly the same person", proposals, and who is told."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import checkins, identity, intake, orders, surveys
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from storage.models import AccessLog, Operator, Order, Outbox, Resident, ResidentChannel
from tests import factories
from tests.jobs.helpers import add_family, outbox_to, resident_with_chat

SEOUL = ZoneInfo("Asia/Seoul")
PHONE = "+821012345678"


async def _operator(session: AsyncSession, place: factories.Place, name: str = "mapo") -> Access:
    op = Operator(username=name, password_hash="x", role="operator", district_id=place.district_id)
    session.add(op)
    await session.flush()
    return Access(
        operator_id=op.id, username=op.username, ip="10.0.0.1", district_id=place.district_id, role="operator"
    )


async def _ask(
    session: AsyncSession,
    place: factories.Place,
    user_key: str,
    *,
    address: str = "합정로 99",
    for_self: bool = True,
    verified: bool = False,
) -> Order:
    request = intake.IntakeRequest(
        district_id=place.district_id,
        service_code="meals",
        units=10,
        name="김영희",
        phone="010-1234-5678",
        address=address,
        birth_year=1950,
        consent=True,
        for_self=for_self,
        requester_name=None if for_self else "이딸",
        requester_relation=None if for_self else "family",
        phone_verified=verified,
    )
    return await intake.submit(
        session,
        request=request,
        channel="telegram",
        user_key=user_key,
        actor=Actor(kind="resident" if for_self else "family", channel="telegram"),
    )


async def _her(session: AsyncSession, place: factories.Place) -> Resident:
    return await factories.make_resident(session, place, name="김영희", phone=PHONE, address="망원로 12, 3층")


async def test_the_desks_confirmation_binds_and_records_who_and_when(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    access = await _operator(session, place)
    her = await _her(session, place)
    by_desk = await factories.make_order(session, her)
    asked = await _ask(session, place, "777")
    assert [o.id for o in await identity.list_mine(session, channel="telegram", user_key="777")] == [asked.id]
    # The desk merges the record the chat made, then confirms the chat is hers.
    await identity.merge(session, resident_id=asked.resident_id, access=access)
    binding = await identity.get_binding(session, channel="telegram", user_key="777")
    assert binding is not None and binding.resident_id == her.id and binding.verified_at is None
    assert [o.id for o in await identity.list_mine(session, channel="telegram", user_key="777")] == [asked.id]
    await identity.confirm(session, resident_id=her.id, binding_id=binding.id, access=access)  # type: ignore[arg-type]
    assert (binding.verified_how, binding.verified_by) == ("desk", access.operator_id)
    assert binding.verified_at is not None
    seen = {o.id for o in await identity.list_mine(session, channel="telegram", user_key="777")}
    assert seen == {asked.id, by_desk.id}
    log = (await session.execute(select(AccessLog).where(AccessLog.action == "binding_confirm"))).scalar_one()
    assert (log.operator_id, log.resident_id) == (access.operator_id, her.id)


async def test_a_revoked_binding_sees_nothing_of_hers_and_its_own_contact_cannot_verify_it_again(
    session: AsyncSession,
) -> None:
    place = await factories.make_district(session)
    access = await _operator(session, place)
    her = await _her(session, place)
    by_desk = await factories.make_order(session, her)
    await _ask(session, place, "777", verified=True)  # her number, shared as her own contact
    binding = await identity.get_binding(session, channel="telegram", user_key="777")
    assert binding is not None and binding.resident_id == her.id and binding.verified_how == "telegram_contact"
    # The number was given to someone new by the phone company: the desk takes the binding back.
    await identity.revoke(session, resident_id=her.id, binding_id=binding.id, access=access)  # type: ignore[arg-type]
    assert by_desk.id not in {o.id for o in await identity.list_mine(session, channel="telegram", user_key="777")}
    assert await identity.verify_by_contact(session, channel="telegram", user_key="777", phone=PHONE) is None
    again = await _ask(session, place, "777", verified=True)
    assert await identity.verified_resident(session, channel="telegram", user_key="777") is None
    assert again.resident_id != her.id  # its requests wait beside her record again
    # Nor by going round through another name with the same number, and back.
    request = intake.IntakeRequest(
        district_id=place.district_id,
        service_code="meals",
        name="박새사람",
        phone=PHONE,
        consent=True,
        phone_verified=True,
    )
    await intake.submit(session, request=request, channel="telegram", user_key="777", actor=factories.DESK)
    await _ask(session, place, "777", verified=True)
    assert await identity.verified_resident(session, channel="telegram", user_key="777") is None


async def test_an_operator_of_another_district_cannot_confirm_a_binding(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    elsewhere = await factories.make_district(session, name="은평구")
    stranger_desk = await _operator(session, elsewhere, "eunpyeong")
    her = await _her(session, place)
    session.add(ResidentChannel(resident_id=her.id, channel="telegram", user_key="777"))  # type: ignore[arg-type]
    await session.flush()
    binding = await identity.get_binding(session, channel="telegram", user_key="777")
    assert binding is not None
    with pytest.raises(NotFound):
        await identity.confirm(session, resident_id=her.id, binding_id=binding.id, access=stranger_desk)  # type: ignore[arg-type]
    assert binding.verified_at is None


async def test_proposed_changes_wait_for_the_desk_and_apply_only_after_the_records_are_joined(
    session: AsyncSession,
) -> None:
    place = await factories.make_district(session)
    access = await _operator(session, place)
    her = await _her(session, place)
    asked = await _ask(session, place, "777", address="합정로 99")
    assert asked.resident_id != her.id and asked.proposed == {"address": "합정로 99", "birth_year": 1950}
    page = await identity.for_order(session, order=asked, access=access)
    assert page.same_as is not None and page.same_as.id == her.id and page.requester_verified is False
    first = page.proposals[0]
    assert (first.field, first.current, first.proposed) == ("address", "망원로 12, 3층", "합정로 99")
    with pytest.raises(InvalidInput):
        await identity.apply_proposed(session, order_id=asked.id, key="address", apply=True, access=access)  # type: ignore[arg-type]
    provisional_id = asked.resident_id
    await identity.merge(session, resident_id=provisional_id, access=access)
    assert await session.get(Resident, provisional_id) is None
    order = await orders.get(session, order_id=asked.id)  # type: ignore[arg-type]
    assert order.resident_id == her.id
    await identity.apply_proposed(session, order_id=asked.id, key="address", apply=True, access=access)  # type: ignore[arg-type]
    await identity.apply_proposed(session, order_id=asked.id, key="birth_year", apply=False, access=access)  # type: ignore[arg-type]
    refreshed = await session.get(Resident, her.id, populate_existing=True)
    assert refreshed is not None and refreshed.address == "합정로 99" and refreshed.birth_year == 1946
    assert (await orders.get(session, order_id=asked.id)).proposed == {}  # type: ignore[arg-type]
    actions = [r.action for r in (await session.execute(select(AccessLog).order_by(AccessLog.id))).scalars()]
    assert actions == ["order_view", "resident_merge", "resident_update", "proposal_set_aside"]


async def test_a_second_request_of_the_same_unverified_chat_reuses_its_own_record(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    her = await _her(session, place)
    first = await _ask(session, place, "777")
    second = await _ask(session, place, "777")
    other = await _ask(session, place, "888")
    assert first.resident_id == second.resident_id != her.id
    assert other.resident_id not in (her.id, first.resident_id)


async def test_a_different_person_keeps_their_own_record(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    access = await _operator(session, place)
    await _her(session, place)
    asked = await _ask(session, place, "777")
    kept = await identity.dismiss(session, resident_id=asked.resident_id, access=access)
    assert kept.same_as_id is None and kept.id == asked.resident_id


async def test_cancel_refuses_an_order_the_account_cannot_see_and_one_already_arranged(session: AsyncSession) -> None:
    place = await factories.make_district(session)
    her = await _her(session, place)
    hers = await factories.make_order(session, her)
    mine = await _ask(session, place, "777")
    with pytest.raises(NotFound):
        await identity.cancel_mine(session, channel="telegram", user_key="777", order_id=hers.id, reason="x")  # type: ignore[arg-type]
    assert (await orders.get(session, order_id=hers.id)).status == "received"  # type: ignore[arg-type]
    provider = await factories.make_provider(session, place)
    await orders.screen(session, order_id=mine.id, actor=factories.DESK)  # type: ignore[arg-type]
    await factories.decide_eligible(session, mine.resident_id)  # a chat request's person: the desk decides first
    await orders.assign(session, order_id=mine.id, provider_id=provider.id, actor=factories.DESK)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await identity.cancel_mine(session, channel="telegram", user_key="777", order_id=mine.id, reason="x")  # type: ignore[arg-type]


async def test_only_a_family_chat_the_desk_confirmed_is_alerted_of_a_missed_check_in(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 23, 9, 0, tzinfo=SEOUL))
    place = await factories.make_district(session)
    her = await resident_with_chat(session, place, "100", phone="010-3000-3000")
    await add_family(session, her, "301", confirmed=True)
    await add_family(session, her, "302", confirmed=False)  # registered by a chat, not yet confirmed
    await checkins.set_schedule(session, resident_id=her.id, weekdays=[0], at_minute=600)  # type: ignore[arg-type]
    clock.set_now(datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL))
    assert await checkins.dispatch_due(session) == 1
    clock.set_now(datetime(2026, 11, 23, 14, 0, tzinfo=SEOUL))
    await checkins.escalate_due(session)
    assert [m.kind for m in await outbox_to(session, "301")] == ["checkin_alert"]
    assert await outbox_to(session, "302") == []


async def test_a_claiming_chat_that_blocks_the_bot_changes_nothing_of_the_residents_record(
    session: AsyncSession,
) -> None:
    place = await factories.make_district(session)
    access = await _operator(session, place)
    her = await _her(session, place)
    asked = await _ask(session, place, "777")
    await identity.merge(session, resident_id=asked.resident_id, access=access)  # the claim is now on her record
    assert await checkins.mark_unreachable(session, channel="telegram", chat_id="777") is None
    refreshed = await session.get(Resident, her.id, populate_existing=True)
    assert refreshed is not None and refreshed.needs_phone_call is False


async def test_check_ins_go_only_to_verified_chats(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 23, 9, 0, tzinfo=SEOUL))
    place = await factories.make_district(session)
    her = await factories.make_resident(session, place)
    session.add(ResidentChannel(resident_id=her.id, channel="telegram", user_key="555"))  # type: ignore[arg-type]
    await checkins.set_schedule(session, resident_id=her.id, weekdays=[0], at_minute=600)  # type: ignore[arg-type]
    clock.set_now(datetime(2026, 11, 23, 10, 0, tzinfo=SEOUL))
    await checkins.dispatch_due(session)
    assert (await session.execute(select(Outbox))).first() is None


async def test_the_survey_of_a_desk_order_goes_to_her_verified_chat_not_to_a_claiming_one(
    session: AsyncSession,
) -> None:
    clock.set_now(datetime(2026, 11, 23, 15, 0, tzinfo=SEOUL))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    her = await factories.make_resident(session, place)
    session.add(ResidentChannel(resident_id=her.id, channel="telegram", user_key="555"))  # type: ignore[arg-type]
    order = await factories.make_order(session, her)  # the desk took it: no requesting account
    for step in ("screen", "assign", "accept", "start", "complete"):
        kw: dict[str, object] = {"order_id": order.id, "actor": factories.DESK}
        if step in ("assign", "accept"):
            kw["provider_id"] = provider.id
        if step == "complete":
            kw["delivered_units"] = order.units
        await getattr(orders, step)(session, **kw)
    clock.set_now(datetime(2026, 11, 24, 16, 0, tzinfo=SEOUL))
    await surveys.send_due(session)
    assert await outbox_to(session, "555") == []
