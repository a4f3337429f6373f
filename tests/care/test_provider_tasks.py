"""A provider's staff and their assignments: own organisation only, decline back to the desk, completion."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements, invites, order_notices, orders, provider_tasks
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, PermissionDenied, RuleViolation
from storage import orders as store
from storage.db import Database
from storage.models import AccessLog, Assignment, DeskNotice, Outbox, Provider
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul


def staff(provider: Provider) -> Actor:
    return provider_tasks.actor_for(provider, channel="telegram", staff_name="최동훈")


async def assigned_order(
    session: AsyncSession,
    place: Place,
    provider: Provider,
    *,
    units: int = 20,
    service_code: str = "meals",
    funding: str = "public",
    **kw: object,
) -> Assignment:
    resident = await make_resident(
        session, place, name="박순자", phone="+821012345678", address="마포구 성산로 12, 101호"
    )
    order = await make_order(session, resident, units=units, service_code=service_code, **kw)  # type: ignore[arg-type]
    await orders.screen(session, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    if funding != "public":  # over a cap: the desk records that the resident pays the excess
        desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
        await entitlements.choose_funding(
            session,
            order_id=order.id,
            access=desk,
            funding=funding,
            consent_note="본인 동의",  # type: ignore[arg-type]
        )
    return await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK, note="점심 전 배달")  # type: ignore[arg-type]


async def test_assignment_notice_goes_to_bound_staff_with_accept_and_decline(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    provider = await make_provider(session, place)
    invite = await invites.create(session, role="provider_staff", provider_id=provider.id, created_by=None)
    await invites.redeem(session, code=invite.code, channel="telegram", user_key="555", display_name=None)
    assignment = await assigned_order(session, place, provider, requested_date=date(2026, 11, 24))
    notice = (await session.execute(select(Outbox).where(Outbox.chat_id == "555"))).scalar_one()
    assert notice.buttons == [
        [
            {"text": notice.buttons[0][0]["text"], "data": f"as:{assignment.id}:accept"},
            {"text": notice.buttons[0][1]["text"], "data": f"as:{assignment.id}:decline"},
        ]
    ]
    assert "순자" in notice.text and "박순자" not in notice.text
    assert "성산로" not in notice.text and "5678" not in notice.text
    assert "20식" in notice.text and "점심 전 배달" in notice.text and place.dongs[0].name in notice.text
    assert "11월 24일" in notice.text


async def test_address_and_phone_only_after_accept(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    assignment = await assigned_order(session, place, provider)
    before = await provider_tasks.get(session, provider_id=provider.id, assignment_id=assignment.id)  # type: ignore[arg-type]
    assert "성산로" not in before.card and "010-1234-5678" not in before.card
    after = await provider_tasks.accept(
        session, provider_id=provider.id, assignment_id=assignment.id, actor=staff(provider)
    )  # type: ignore[arg-type]
    assert "성산로" in after.card and "010-1234-5678" in after.card and "박순자" in after.card
    history = await orders.list_history(session, order_id=assignment.order_id)
    assert (history[-1].action, history[-1].actor_kind, history[-1].actor_name, history[-1].channel) == (
        "accept",
        "provider",
        f"{provider.name} (최동훈)",
        "telegram",
    )


async def test_acting_on_another_providers_assignment_is_refused_and_logged(db: Database) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        owner = await make_provider(s, place)
        intruder = await make_provider(s, place)
        assignment = await assigned_order(s, place, owner)
    for act in ("get", "accept", "decline", "start", "complete"):
        async with db.sessions() as s:
            with pytest.raises(PermissionDenied) as err:
                if act == "get":
                    await provider_tasks.get(s, provider_id=intruder.id, assignment_id=assignment.id)  # type: ignore[arg-type]
                elif act == "accept":
                    await provider_tasks.accept(
                        s, provider_id=intruder.id, assignment_id=assignment.id, actor=staff(intruder)
                    )  # type: ignore[arg-type]
                elif act == "decline":
                    await provider_tasks.decline(
                        s,
                        provider_id=intruder.id,
                        assignment_id=assignment.id,
                        reason_code="staff",
                        actor=staff(intruder),  # type: ignore[arg-type]
                    )
                elif act == "start":
                    await provider_tasks.start(
                        s, provider_id=intruder.id, assignment_id=assignment.id, actor=staff(intruder)
                    )  # type: ignore[arg-type]
                else:
                    await provider_tasks.complete(
                        s,
                        provider_id=intruder.id,
                        assignment_id=assignment.id,
                        delivered_units=1,
                        note=None,
                        actor=staff(intruder),  # type: ignore[arg-type]
                    )
            assert err.value.msgid == provider_tasks.MSG_NOT_YOURS
            await s.commit()
    async with db.sessions() as s:
        refused = (await s.execute(select(AccessLog).where(AccessLog.action == "provider_refused"))).scalars().all()
        assert len(refused) == 5 and all(r.username == f"provider:{intruder.id}" for r in refused)
        order = await orders.get(s, order_id=assignment.order_id)
        assert order.status == "assigned"
        assert [h.action for h in await orders.list_history(s, order_id=order.id)] == ["create", "screen", "assign"]  # type: ignore[arg-type]


async def test_decline_with_reason_sends_the_order_back_to_the_queue_with_history(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    assignment = await assigned_order(session, place, provider)
    order = await provider_tasks.decline(
        session,
        provider_id=provider.id,  # type: ignore[arg-type]
        assignment_id=assignment.id,  # type: ignore[arg-type]
        reason_code="other",
        text="차량 고장",
        actor=staff(provider),
    )
    assert order.status == "screening"
    last = (await orders.list_history(session, order_id=order.id))[-1]  # type: ignore[arg-type]
    assert (last.action, last.from_status, last.to_status, last.actor_kind) == (
        "return",
        "assigned",
        "screening",
        "provider",
    )
    assert last.reason is not None and last.reason.endswith(": 차량 고장")
    await session.refresh(assignment)
    assert (assignment.status, assignment.decline_reason) == ("declined", last.reason)
    assert await store.current_assignment(session, order.id) is None  # type: ignore[arg-type]
    notice = (await session.execute(select(DeskNotice).where(DeskNotice.order_id == order.id))).scalar_one()
    assert notice.kind == "assignment_declined" and notice.body == last.reason and order.receipt_no in notice.title
    # the desk can give it to another provider straight away
    other = await make_provider(session, place)
    await orders.assign(session, order_id=order.id, provider_id=other.id, actor=DESK)  # type: ignore[arg-type]


async def test_decline_reasons_are_buttons_and_other_needs_words(session: AsyncSession) -> None:
    assert set(provider_tasks.DECLINE_REASONS) == {"staff", "schedule", "area", "other"}
    with pytest.raises(InvalidInput):
        provider_tasks.decline_reason("other", " ")
    with pytest.raises(InvalidInput):
        provider_tasks.decline_reason("weather")
    place = await make_district(session)
    provider = await make_provider(session, place)
    assignment = await assigned_order(session, place, provider)
    await provider_tasks.accept(session, provider_id=provider.id, assignment_id=assignment.id, actor=staff(provider))  # type: ignore[arg-type]
    with pytest.raises(RuleViolation) as err:  # after 수락 only the desk can take it back
        await provider_tasks.decline(
            session,
            provider_id=provider.id,
            assignment_id=assignment.id,
            reason_code="staff",
            actor=staff(provider),  # type: ignore[arg-type]
        )
    assert err.value.msgid == provider_tasks.MSG_NOT_WAITING


async def test_complete_with_fewer_units_records_the_delivered_units(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    assignment = await assigned_order(session, place, provider, units=20)
    aid, pid = assignment.id, provider.id
    await provider_tasks.accept(session, provider_id=pid, assignment_id=aid, actor=staff(provider))  # type: ignore[arg-type]
    with pytest.raises(RuleViolation) as err:
        await provider_tasks.complete(
            session, provider_id=pid, assignment_id=aid, delivered_units=18, note=None, actor=staff(provider)
        )  # type: ignore[arg-type]
    assert err.value.msgid == provider_tasks.MSG_START_FIRST
    await provider_tasks.start(session, provider_id=pid, assignment_id=aid, actor=staff(provider))  # type: ignore[arg-type]
    done = await provider_tasks.complete(
        session,
        provider_id=pid,
        assignment_id=aid,
        delivered_units=18,
        note="2식은 입원으로 못 드림",
        actor=staff(provider),  # type: ignore[arg-type]
    )
    assert (done.status, done.units, done.delivered_units) == ("done", 20, 18)
    last = (await orders.list_history(session, order_id=done.id))[-1]  # type: ignore[arg-type]
    assert (last.action, last.reason, last.actor_kind) == ("complete", "2식은 입원으로 못 드림", "provider")


async def test_more_units_than_planned_or_the_cap_need_the_desk(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    over_plan = await assigned_order(session, place, provider, units=20)
    over_cap = await assigned_order(session, place, provider, units=40, funding="pay_excess")  # meals cap: 30
    for a in (over_plan, over_cap):
        await provider_tasks.accept(session, provider_id=provider.id, assignment_id=a.id, actor=staff(provider))  # type: ignore[arg-type]
        await provider_tasks.start(session, provider_id=provider.id, assignment_id=a.id, actor=staff(provider))  # type: ignore[arg-type]
    for a, units in ((over_plan, 22), (over_cap, 35)):
        with pytest.raises(RuleViolation) as err:
            await provider_tasks.complete(
                session,
                provider_id=provider.id,
                assignment_id=a.id,
                delivered_units=units,
                note=None,
                actor=staff(provider),  # type: ignore[arg-type]
            )
        assert err.value.msgid == provider_tasks.MSG_NEEDS_APPROVAL
        assert (await orders.get(session, order_id=a.order_id)).status == "in_progress"


async def test_today_lists_accepted_orders_for_today_and_the_next_days(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    provider = await make_provider(session, place)
    today = await assigned_order(session, place, provider, requested_date=date(2026, 11, 23))
    later = await assigned_order(session, place, provider, requested_date=date(2026, 11, 26))
    far = await assigned_order(session, place, provider, requested_date=date(2026, 12, 20))
    waiting = await assigned_order(session, place, provider, requested_date=date(2026, 11, 23))
    for a in (later, today, far):
        await provider_tasks.accept(session, provider_id=provider.id, assignment_id=a.id, actor=staff(provider))  # type: ignore[arg-type]
    listed = await provider_tasks.list_today(session, provider_id=provider.id)  # type: ignore[arg-type]
    assert [v.assignment.id for v in listed] == [today.id, later.id]
    assert all(v.revealed for v in listed)
    pending = await provider_tasks.list_assignments(session, provider_id=provider.id)  # type: ignore[arg-type]
    assert pending[0].assignment.id == waiting.id and not pending[0].revealed


async def test_given_name_drops_the_family_name() -> None:
    assert order_notices.given_name("박순자") == "순자"
    assert order_notices.given_name("남궁민수") == "민수"
    assert order_notices.given_name("김철") == "철"
    assert order_notices.units_text("meals", 18) == "18식"
    assert order_notices.units_text("escort", 2) == "2시간"


async def test_reassignment_tells_the_old_provider_and_the_new_one(session: AsyncSession) -> None:
    place = await make_district(session)
    first, second = await make_provider(session, place), await make_provider(session, place)
    for p, key in ((first, "p1"), (second, "p2")):
        invite = await invites.create(session, role="provider_staff", provider_id=p.id, created_by=None)
        await invites.redeem(session, code=invite.code, channel="telegram", user_key=key, display_name=None)
    assignment = await assigned_order(session, place, first)
    new = await orders.reassign(
        session, order_id=assignment.order_id, provider_id=second.id, reason="인력 부족", actor=DESK
    )  # type: ignore[arg-type]
    rows = (await session.execute(select(Outbox).order_by(Outbox.id))).scalars().all()
    assert [(r.chat_id, bool(r.buttons)) for r in rows] == [("p1", True), ("p2", True), ("p1", False)]
    assert rows[1].buttons[0][0]["data"] == f"as:{new.id}:accept"  # type: ignore[index]


async def test_the_provider_is_told_when_the_desk_cancels_an_accepted_order(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    invite = await invites.create(session, role="provider_staff", provider_id=provider.id, created_by=None)
    await invites.redeem(session, code=invite.code, channel="telegram", user_key="p1", display_name=None)
    assignment = await assigned_order(session, place, provider)
    await provider_tasks.accept(session, provider_id=provider.id, assignment_id=assignment.id, actor=staff(provider))  # type: ignore[arg-type]
    await orders.cancel(session, order_id=assignment.order_id, reason="본인 취소", actor=DESK)
    rows = (await session.execute(select(Outbox).where(Outbox.chat_id == "p1").order_by(Outbox.id))).scalars().all()
    assert len(rows) == 2 and rows[1].buttons is None
    assert "식사지원 20식" in rows[1].text and rows[1].text != rows[0].text
    await session.refresh(assignment)
    assert assignment.status == "withdrawn"
