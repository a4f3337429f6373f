"""A care manager's referral: own-dong residents only, a plan of several services, linked orders."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import invites, orders, referrals
from care.referrals import PlanItem
from dolbom import clock
from dolbom.errors import InvalidInput, PermissionDenied, RegistrationNumberRefused, RuleViolation
from storage.db import Database
from storage.models import AccessLog, Consent, Outbox
from tests.factories import DESK, make_care_manager, make_district, make_order, make_provider, make_resident

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul


async def test_find_resident_by_name_and_last_four_digits_in_own_dong(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    resident = await make_resident(session, place, name="박 순자", phone="+821012345678")
    await make_resident(session, place, name="박순자", phone="+821099990000")
    found = await referrals.find_resident(session, care_manager_id=manager.id, name="박 순자", phone_last4="５６７８")  # type: ignore[arg-type]
    assert [r.id for r in found] == [resident.id]
    logged = (await session.execute(select(AccessLog.action, AccessLog.resident_id))).all()
    assert ("care_manager_lookup", resident.id) in logged


async def test_no_match_means_register_a_new_resident(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    assert await referrals.find_resident(session, care_manager_id=manager.id, name="김영희", phone_last4="1111") == []  # type: ignore[arg-type]
    new = await referrals.register_resident(
        session,
        care_manager_id=manager.id,
        name="김영희",
        phone="010-2222-1111",
        address="성산로 1",  # type: ignore[arg-type]
    )
    assert (new.dong_id, new.district_id, new.phone) == (manager.dong_id, place.district_id, "+821022221111")
    again = await referrals.register_resident(session, care_manager_id=manager.id, name="김영희", phone="01022221111")  # type: ignore[arg-type]
    assert again.id == new.id


async def test_looking_up_a_resident_of_another_dong_is_refused_and_logged(db: Database) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        manager = await make_care_manager(s, place, dong_index=0)
        other = await make_resident(s, place, name="정말순", phone="+821055554321", dong_id=place.dongs[1].id)
    async with db.sessions() as s:
        with pytest.raises(PermissionDenied) as err:
            await referrals.find_resident(s, care_manager_id=manager.id, name="정말순", phone_last4="4321")  # type: ignore[arg-type]
        assert err.value.msgid == referrals.MSG_OTHER_DONG
        await s.commit()  # the edge commits after showing the refusal, so the log row stays
    async with db.sessions() as s:
        rows = (await s.execute(select(AccessLog).where(AccessLog.action == "care_manager_refused"))).scalars().all()
        assert [(r.resident_id, r.username) for r in rows] == [(other.id, f"care_manager:{manager.id}:이민정")]


async def test_registering_someone_of_another_dong_again_is_refused(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    await make_resident(session, place, name="정말순", phone="+821055554321", dong_id=place.dongs[1].id)
    with pytest.raises(PermissionDenied):
        await referrals.register_resident(session, care_manager_id=manager.id, name="정말순", phone="010-5555-4321")  # type: ignore[arg-type]


async def test_referral_with_two_services_creates_two_linked_orders(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    resident = await make_resident(session, place, name="박순자", phone="+821012345678")
    view = await referrals.create(
        session,
        care_manager_id=manager.id,  # type: ignore[arg-type]
        resident_id=resident.id,  # type: ignore[arg-type]
        plan=[PlanItem("meals", 20, date(2026, 12, 1)), PlanItem("escort", 2, date(2026, 12, 3))],
        urgency="urgent",
        notes="거동 불편, 혼자 사심",
        consent_confirmed=True,
        channel="telegram",
    )
    assert [(o.service_code, o.units, o.requested_date, o.status) for o in view.orders] == [
        ("meals", 20, date(2026, 12, 1), "received"),
        ("escort", 2, date(2026, 12, 3), "received"),
    ]
    assert all(o.referral_id == view.referral.id and o.source == "care_manager" for o in view.orders)
    assert all(o.urgency == "urgent" and o.notes == "거동 불편, 혼자 사심" for o in view.orders)
    history = await orders.list_history(session, order_id=view.orders[0].id)  # type: ignore[arg-type]
    assert [(h.action, h.actor_kind, h.actor_id, h.channel) for h in history] == [
        ("create", "care_manager", manager.id, "telegram")
    ]
    consent = (await session.execute(select(Consent).where(Consent.resident_id == resident.id))).scalar_one()
    assert consent.channel == "telegram" and consent.sensitive
    listed = await referrals.list_for_care_manager(session, care_manager_id=manager.id)  # type: ignore[arg-type]
    assert [(v.resident_name, [o.service_code for o in v.orders]) for v in listed] == [("박순자", ["meals", "escort"])]


async def test_referral_needs_consent_and_a_sound_plan(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    resident = await make_resident(session, place)
    base = {"care_manager_id": manager.id, "resident_id": resident.id, "urgency": "normal", "notes": None}
    with pytest.raises(RuleViolation) as err:
        await referrals.create(
            session, **base, plan=[PlanItem("meals", 5)], consent_confirmed=False, channel="telegram"
        )  # type: ignore[arg-type]
    assert err.value.msgid == referrals.MSG_CONSENT
    for plan in (
        [],
        [PlanItem("meals", 5), PlanItem("meals", 3)],
        [PlanItem("meals", 0)],
        [PlanItem("meals", 5, date(2026, 11, 1))],
    ):
        with pytest.raises(InvalidInput):
            await referrals.create(session, **base, plan=plan, consent_confirmed=True, channel="telegram")  # type: ignore[arg-type]
    with pytest.raises(RegistrationNumberRefused):
        await referrals.create(
            session,
            **{**base, "notes": "주민번호 420315-2345678"},  # type: ignore[arg-type]
            plan=[PlanItem("meals", 5)],
            consent_confirmed=True,
            channel="telegram",
        )


async def test_referral_for_another_dongs_resident_is_refused(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    resident = await make_resident(session, place, dong_id=place.dongs[2].id)
    with pytest.raises(PermissionDenied):
        await referrals.create(
            session,
            care_manager_id=manager.id,  # type: ignore[arg-type]
            resident_id=resident.id,  # type: ignore[arg-type]
            plan=[PlanItem("meals", 5)],
            urgency="normal",
            notes=None,
            consent_confirmed=True,
            channel="telegram",
        )


async def test_a_manager_sees_only_own_referrals(session: AsyncSession) -> None:
    place = await make_district(session)
    mine = await make_care_manager(session, place)
    theirs = await make_care_manager(session, place, name="조은비")
    resident = await make_resident(session, place)
    view = await referrals.create(
        session,
        care_manager_id=mine.id,  # type: ignore[arg-type]
        resident_id=resident.id,  # type: ignore[arg-type]
        plan=[PlanItem("meals", 5)],
        urgency="normal",
        notes=None,
        consent_confirmed=True,
        channel="telegram",
    )
    assert await referrals.list_for_care_manager(session, care_manager_id=theirs.id) == []  # type: ignore[arg-type]
    from dolbom.errors import NotFound

    with pytest.raises(NotFound):
        await referrals.get(session, care_manager_id=theirs.id, referral_id=view.referral.id)  # type: ignore[arg-type]


async def test_the_care_manager_is_told_of_assignment_return_completion_and_cancel(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    await invites.redeem(session, code=invite.code, channel="telegram", user_key="cm1", display_name=None)
    resident = await make_resident(session, place, name="박순자")
    provider = await make_provider(session, place, name="마포밥상협동조합")
    view = await referrals.create(
        session,
        care_manager_id=manager.id,  # type: ignore[arg-type]
        resident_id=resident.id,  # type: ignore[arg-type]
        plan=[PlanItem("meals", 20), PlanItem("escort", 2)],
        urgency="normal",
        notes=None,
        consent_confirmed=True,
        channel="telegram",
    )
    meals, escort = view.orders
    for o in (meals, escort):
        await orders.screen(session, order_id=o.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(session, order_id=o.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    await orders.return_to_desk(session, order_id=escort.id, reason="일정 불가", actor=DESK)  # type: ignore[arg-type]
    await orders.cancel(session, order_id=escort.id, reason="본인이 원하지 않음", actor=DESK)  # type: ignore[arg-type]
    await orders.accept(session, order_id=meals.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    await orders.start(session, order_id=meals.id, actor=DESK)  # type: ignore[arg-type]
    await orders.complete(session, order_id=meals.id, delivered_units=18, actor=DESK)  # type: ignore[arg-type]
    texts = [
        r.text
        for r in (await session.execute(select(Outbox).where(Outbox.chat_id == "cm1").order_by(Outbox.id))).scalars()
    ]
    assert len(texts) == 5
    assert all("박순자" in t for t in texts)
    assert "마포밥상협동조합" in texts[0] and "마포밥상협동조합" in texts[1]
    assert "일정 불가" in texts[2]
    assert "본인이 원하지 않음" in texts[3]
    assert "18식" in texts[4]


async def test_the_referral_estimate_counts_what_the_resident_already_has_this_year(session: AsyncSession) -> None:
    clock.set_now(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    provider = await make_provider(session, place, services=("meals",))
    resident = await make_resident(session, place)  # 수급, decided eligible
    assert manager.id is not None and resident.id is not None and provider.id is not None
    plan = [PlanItem(service_code="meals", units=20, requested_date=date(2026, 11, 20))]

    [fresh] = await referrals.estimate(session, care_manager_id=manager.id, resident_id=resident.id, plan=plan)
    assert (fresh.public, fresh.resident) == (144_000, 0)  # 20 meals × 7,200, within the 30-meal cap

    # 25 meals already assigned this year: 5 of the cap are left, so 5 are supported and 15 are hers.
    held = await make_order(session, resident, units=25, requested_date=date(2026, 11, 10))
    assert held.id is not None
    await orders.screen(session, order_id=held.id, actor=DESK)
    await orders.assign(session, order_id=held.id, provider_id=provider.id, actor=DESK)
    [after] = await referrals.estimate(session, care_manager_id=manager.id, resident_id=resident.id, plan=plan)
    assert (after.public, after.resident) == (36_000, 108_000)

    # Two lines of one plan share the cap: the second finds the first's 5 meals taken.
    two = [plan[0], PlanItem(service_code="meals", units=5, requested_date=date(2026, 11, 27))]
    first, second = await referrals.estimate(session, care_manager_id=manager.id, resident_id=resident.id, plan=two)
    assert (first.public, second.public, second.resident) == (36_000, 0, 36_000)
