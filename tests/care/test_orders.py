"""The order service on a real database: history, assignment, reassignment, conflicts, caps."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from care import orders
from dolbom.errors import ConflictError, InvalidTransition, ReasonRequired, RuleViolation
from tests.factories import DESK, make_district, make_order, make_provider, make_resident


async def test_new_order_is_received_with_a_readable_receipt_and_history(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    order = await make_order(session, resident)
    assert order.status == "received"
    assert len(order.receipt_no) == 10 and order.receipt_no[4] == "-"
    assert order.receipt_no.replace("-", "").isdigit()
    history = await orders.list_history(session, order_id=order.id)  # type: ignore[arg-type]
    assert [(h.action, h.to_status, h.actor_name) for h in history] == [("create", "received", "김창구")]


async def test_full_life_of_an_order_is_in_its_history(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    lead = await make_provider(session, place, is_lead=True)
    other = await make_provider(session, place)
    order = await make_order(session, resident, units=20)
    oid = order.id
    assert oid is not None
    await orders.screen(session, order_id=oid, actor=DESK)
    proposal = await orders.propose(session, order_id=oid)
    assert proposal.provider_id == lead.id
    await orders.assign(session, order_id=oid, provider_id=lead.id, actor=DESK)  # type: ignore[arg-type]
    await orders.reassign(session, order_id=oid, provider_id=other.id, reason="인력 부족", actor=DESK)  # type: ignore[arg-type]
    await orders.accept(session, order_id=oid, provider_id=other.id, actor=DESK)  # type: ignore[arg-type]
    await orders.start(session, order_id=oid, actor=DESK)
    done = await orders.complete(session, order_id=oid, delivered_units=18, actor=DESK)
    assert done.status == "done" and done.delivered_units == 18
    steps = [(h.action, h.from_status, h.to_status, h.reason) for h in await orders.list_history(session, order_id=oid)]
    assert steps == [
        ("create", None, "received", None),
        ("screen", "received", "screening", None),
        ("assign", "screening", "assigned", None),
        ("reassign", "assigned", "assigned", "인력 부족"),
        ("accept", "assigned", "accepted", None),
        ("start", "accepted", "in_progress", None),
        ("complete", "in_progress", "done", None),
    ]
    from storage import orders as store

    assignments = await store.list_assignments(session, oid)
    assert [(a.provider_id, a.status) for a in assignments] == [(lead.id, "withdrawn"), (other.id, "done")]


async def test_reassign_needs_a_reason(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    p1, p2 = await make_provider(session, place), await make_provider(session, place)
    order = await make_order(session, resident)
    await orders.screen(session, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    await orders.assign(session, order_id=order.id, provider_id=p1.id, actor=DESK)  # type: ignore[arg-type]
    with pytest.raises(ReasonRequired):
        await orders.reassign(session, order_id=order.id, provider_id=p2.id, reason=" ", actor=DESK)  # type: ignore[arg-type]


async def test_stale_version_is_a_conflict(session: AsyncSession) -> None:
    place = await make_district(session)
    order = await make_order(session, await make_resident(session, place))
    seen = order.version
    await orders.screen(session, order_id=order.id, actor=DESK, expected_version=seen)  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        await orders.cancel(session, order_id=order.id, reason="중복", actor=DESK, expected_version=seen)  # type: ignore[arg-type]


async def test_a_done_order_cannot_be_assigned(session: AsyncSession) -> None:
    place = await make_district(session)
    order = await make_order(session, await make_resident(session, place))
    await orders.cancel(session, order_id=order.id, reason="본인 취소", actor=DESK)  # type: ignore[arg-type]
    provider = await make_provider(session, place)
    with pytest.raises(InvalidTransition) as raised:
        await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    assert raised.value.from_status == "cancelled"


async def test_the_31st_meal_is_refused_at_assignment_unless_the_desk_decides(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    provider = await make_provider(session, place)

    async def deliver(units: int) -> None:
        order = await make_order(session, resident, units=units)
        oid = order.id
        assert oid is not None and provider.id is not None
        await orders.screen(session, order_id=oid, actor=DESK)
        await orders.assign(session, order_id=oid, provider_id=provider.id, actor=DESK)
        await orders.accept(session, order_id=oid, provider_id=provider.id, actor=DESK)
        await orders.start(session, order_id=oid, actor=DESK)
        await orders.complete(session, order_id=oid, delivered_units=units, actor=DESK)

    await deliver(30)
    with pytest.raises(RuleViolation):
        await deliver(1)


async def test_more_units_than_planned_need_approval(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    order = await make_order(session, await make_resident(session, place), units=10)
    oid = order.id
    assert oid is not None and provider.id is not None
    await orders.screen(session, order_id=oid, actor=DESK)
    await orders.assign(session, order_id=oid, provider_id=provider.id, actor=DESK)
    await orders.accept(session, order_id=oid, provider_id=provider.id, actor=DESK)
    await orders.start(session, order_id=oid, actor=DESK)
    with pytest.raises(RuleViolation):
        await orders.complete(session, order_id=oid, delivered_units=12, actor=DESK)
    done = await orders.complete(session, order_id=oid, delivered_units=12, actor=DESK, approved_over_plan=True)
    assert done.delivered_units == 12


async def test_only_the_assigned_provider_may_accept(session: AsyncSession) -> None:
    place = await make_district(session)
    p1, p2 = await make_provider(session, place), await make_provider(session, place)
    order = await make_order(session, await make_resident(session, place))
    await orders.screen(session, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    await orders.assign(session, order_id=order.id, provider_id=p1.id, actor=DESK)  # type: ignore[arg-type]
    with pytest.raises(RuleViolation):
        await orders.accept(session, order_id=order.id, provider_id=p2.id, actor=DESK)  # type: ignore[arg-type]


async def test_return_to_desk_puts_the_order_back_in_screening(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    order = await make_order(session, await make_resident(session, place))
    await orders.screen(session, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    back = await orders.return_to_desk(session, order_id=order.id, reason="일정 불가", actor=DESK)  # type: ignore[arg-type]
    assert back.status == "screening"
    from storage import orders as store

    [a] = await store.list_assignments(session, order.id)  # type: ignore[arg-type]
    assert (a.status, a.decline_reason) == ("declined", "일정 불가")
