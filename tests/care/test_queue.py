"""The desk's queue: its tabs and order (decision 0013), keyset paging, district scope, counts and marker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import lifecycle, orders, queue
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, ReasonRequired, RuleViolation
from storage import models
from storage.models import DeskNotice, Operator, Order
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident


def _access(place: Place, operator_id: int | None = None) -> Access:
    return Access(operator_id=operator_id, username=DESK.name, ip=None, district_id=place.district_id, role="operator")


async def _aged(session: AsyncSession, order: Order, *, hours: int, urgency: str = "normal") -> Order:
    """Make the order look received `hours` ago (with this urgency)."""
    at = clock.now() - timedelta(hours=hours)
    await session.execute(
        update(Order).where(col(Order.id) == order.id).values(created_at=at, urgency=urgency, updated_at=at)
    )
    await session.flush()
    return order


async def _walk(session: AsyncSession, access: Access, filters: queue.Filters, *, limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        page = await queue.list_orders(session, access=access, filters=filters, limit=limit, cursor=cursor)
        pages.append([r.order.id for r in page.rows])  # type: ignore[misc]
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_desk_tab_shows_newest_urgent_first_then_oldest_waiting_first(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    old_normal = await _aged(session, await make_order(session, resident), hours=50)
    new_normal = await _aged(session, await make_order(session, resident), hours=1)
    old_urgent = await _aged(session, await make_order(session, resident), hours=30, urgency="urgent")
    new_urgent = await _aged(session, await make_order(session, resident), hours=2, urgency="urgent")
    with_provider = await make_order(session, resident)
    await session.execute(update(Order).where(col(Order.id) == with_provider.id).values(status="assigned"))
    page = await queue.list_orders(session, access=_access(place))
    assert [r.order.id for r in page.rows] == [new_urgent.id, old_urgent.id, old_normal.id, new_normal.id]
    providers = await queue.list_orders(session, access=_access(place), filters=queue.Filters(tab="providers"))
    assert [r.order.id for r in providers.rows] == [with_provider.id]
    assert queue.tab_counts(page.counts) == {"desk": 4, "providers": 1}


@pytest.mark.parametrize("tab_sort", [("desk", None), ("all", None), ("all", "service"), ("desk", "-created")])
async def test_keyset_paging_returns_every_row_once_while_new_orders_arrive(
    session: AsyncSession, tab_sort: tuple[str, str | None]
) -> None:
    tab, sort = tab_sort
    place = await make_district(session)
    resident = await make_resident(session, place)
    made = []
    for i in range(23):
        o = await make_order(session, resident, service_code=("meals", "escort", "info")[i % 3])
        made.append(await _aged(session, o, hours=100 - i, urgency="urgent" if i % 4 == 0 else "normal"))
    filters = queue.Filters(tab=tab, sort=sort)
    access = _access(place)
    seen: list[int] = []
    cursor: str | None = None
    arrived = 0
    while True:
        page = await queue.list_orders(session, access=access, filters=filters, limit=5, cursor=cursor)
        seen += [r.order.id for r in page.rows]  # type: ignore[misc]
        # Between two pages, new requests come in (urgent and not).
        for urgency in ("urgent", "normal"):
            await make_order(session, resident, urgency=urgency)
            arrived += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert {o.id for o in made} <= set(seen), "a row was skipped"
    assert arrived > 0


async def test_last_page_ends_exactly_when_urgent_ones_fill_a_page(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    urgent = [
        await _aged(session, await make_order(session, resident), hours=10 - i, urgency="urgent") for i in range(3)
    ]
    normal = [await _aged(session, await make_order(session, resident), hours=20 - i) for i in range(3)]
    pages = await _walk(session, _access(place), queue.Filters(), limit=3)
    assert pages == [[o.id for o in reversed(urgent)], [o.id for o in normal]]


async def test_another_districts_orders_never_appear_in_any_tab_or_count(session: AsyncSession) -> None:
    mine, theirs = await make_district(session), await make_district(session, name="은평구")
    me = await make_resident(session, mine)
    them = await make_resident(session, theirs, dong_id=theirs.dongs[0].id)
    own = await make_order(session, me)
    for _ in range(3):
        await make_order(session, them)
    for tab in queue.TABS:
        pages = await _walk(session, _access(mine), queue.Filters(tab=tab), limit=2)
        ids = [i for p in pages for i in p]
        assert ids in ([own.id], []), tab
    page = await queue.list_orders(session, access=_access(mine), search=them.name)
    assert page.rows == []
    assert (await queue.count_by_status(session, district_id=mine.district_id))["received"] == 1


async def test_counts_and_marker_leave_closed_orders_out(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    order = await make_order(session, resident)
    before = await queue.marker(session, district_id=place.district_id)
    counts = await queue.count_by_status(session, district_id=place.district_id)
    assert set(counts) == set(queue.OPEN_STATUSES) and counts["received"] == 1
    await session.execute(update(Order).where(col(Order.id) == order.id).values(status="cancelled"))
    assert await queue.marker(session, district_id=place.district_id) != before, "closing an order changes it"
    assert (await queue.count_by_status(session, district_id=place.district_id))["received"] == 0


def test_partial_indexes_name_exactly_the_open_statuses() -> None:
    for status in lifecycle.Status:
        assert (f"'{status.value}'" in models._OPEN_WHERE) == (status in lifecycle.OPEN)


async def test_a_forged_page_link_is_refused_kindly(session: AsyncSession) -> None:
    place = await make_district(session)
    for forged in ("@@@", "eyJ4Ijox", "WyJ1IiwgWzEsIDJdXQ"):
        with pytest.raises(InvalidInput):
            await queue.list_orders(session, access=_access(place), cursor=forged)


async def test_mine_holds_the_orders_the_operator_touched(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    touched, untouched = await make_order(session, resident), await make_order(session, resident)
    op = Operator(username="na-desk", password_hash="x", role="operator", district_id=place.district_id)
    session.add(op)
    await session.flush()
    me = Actor(kind="operator", id=op.id, name="나창구", channel="console")
    await queue.add_note(session, order_id=touched.id, text="통화함", actor=me)  # type: ignore[arg-type]
    page = await queue.list_orders(session, access=_access(place, operator_id=op.id), filters=queue.Filters(tab="mine"))
    assert [r.order.id for r in page.rows] == [touched.id] and untouched.id is not None


async def _screened(session: AsyncSession, place: Place, service: str = "meals") -> Order:
    resident = await make_resident(session, place)
    order = await make_order(session, resident, service_code=service, units=1)
    return await orders.screen(session, order_id=order.id, actor=DESK)  # type: ignore[arg-type]


async def test_a_provider_outside_service_or_region_needs_an_explicit_override_with_a_reason(
    session: AsyncSession,
) -> None:
    place = await make_district(session)
    fits = await make_provider(session, place, is_lead=True)
    elsewhere = await make_provider(session, place, region_index=1)
    no_meals = await make_provider(session, place, services=("escort",))
    order = await _screened(session, place)
    access = _access(place)
    for provider in (elsewhere, no_meals):
        with pytest.raises(RuleViolation):
            await queue.act(
                session,
                access=access,
                order_id=order.id,
                action="assign",
                actor=DESK,
                expected_version=order.version,
                provider_id=provider.id,
            )  # type: ignore[arg-type]
        with pytest.raises(ReasonRequired):
            await queue.act(
                session,
                access=access,
                order_id=order.id,
                action="assign",
                actor=DESK,
                expected_version=order.version,
                provider_id=provider.id,
                override=True,
                reason=" ",
            )  # type: ignore[arg-type]
    assert (await orders.get(session, order_id=order.id)).status == "screening"  # type: ignore[arg-type]
    done = await queue.act(
        session,
        access=access,
        order_id=order.id,
        action="assign",
        actor=DESK,  # type: ignore[arg-type]
        expected_version=order.version,
        provider_id=elsewhere.id,
        override=True,
        reason="1권역 기관이 이번 주 휴무",
    )
    assert done.status == "assigned" and fits.id is not None
    history = await orders.list_history(session, order_id=order.id)  # type: ignore[arg-type]
    assert [(h.action, h.reason) for h in history if h.action == "override"] == [
        ("override", f"{elsewhere.name}: 1권역 기관이 이번 주 휴무")
    ]


async def test_the_proposed_provider_needs_no_override(session: AsyncSession) -> None:
    place = await make_district(session)
    lead = await make_provider(session, place, is_lead=True)
    order = await _screened(session, place)
    done = await queue.act(
        session,
        access=_access(place),
        order_id=order.id,
        action="assign",
        actor=DESK,  # type: ignore[arg-type]
        expected_version=order.version,
        provider_id=lead.id,
    )
    assert done.status == "assigned"
    assert "override" not in [h.action for h in await orders.list_history(session, order_id=order.id)]  # type: ignore[arg-type]


async def test_desk_completes_an_information_order_recording_what_and_who(session: AsyncSession) -> None:
    place = await make_district(session)
    order = await _screened(session, place, service="info")
    page = await queue.order_page(session, order_id=order.id, access=_access(place))  # type: ignore[arg-type]
    assert {"desk_complete", "refer"} <= set(page.actions)
    done = await queue.act(
        session,
        access=_access(place),
        order_id=order.id,
        action="desk_complete",
        actor=DESK,  # type: ignore[arg-type]
        expected_version=order.version,
        reason="기초연금 신청 방법 안내",
        given_by="김창구",
    )
    assert done.status == "done"
    assert done.details["desk"] == {"how": "desk_complete", "what": "기초연금 신청 방법 안내", "by": "김창구"}
    last = (await orders.list_history(session, order_id=order.id))[-1]  # type: ignore[arg-type]
    assert (last.action, last.reason, last.actor_name) == ("desk_complete", "기초연금 신청 방법 안내", DESK.name)


async def test_health_order_referred_to_a_health_centre_records_where_and_outcome(session: AsyncSession) -> None:
    place = await make_district(session)
    order = await _screened(session, place, service="health")
    with pytest.raises(InvalidInput):
        await queue.act(
            session,
            access=_access(place),
            order_id=order.id,
            action="refer",
            actor=DESK,  # type: ignore[arg-type]
            expected_version=order.version,
            reason="방문 예약됨",
            given_by="김창구",
        )
    done = await queue.act(
        session,
        access=_access(place),
        order_id=order.id,
        action="refer",
        actor=DESK,  # type: ignore[arg-type]
        expected_version=order.version,
        reason="방문간호 12/3 예약",
        given_by="김창구",
        referred_to="마포구보건소",
    )
    assert done.status == "done" and done.details["desk"]["referred_to"] == "마포구보건소"


async def test_desk_completion_is_refused_for_services_providers_deliver(session: AsyncSession) -> None:
    place = await make_district(session)
    order = await _screened(session, place, service="meals")
    page = await queue.order_page(session, order_id=order.id, access=_access(place))  # type: ignore[arg-type]
    assert "desk_complete" not in page.actions
    with pytest.raises(RuleViolation):
        await queue.act(
            session,
            access=_access(place),
            order_id=order.id,
            action="desk_complete",
            actor=DESK,  # type: ignore[arg-type]
            expected_version=order.version,
            reason="안내",
            given_by="김창구",
        )


async def test_an_order_awaiting_the_desks_approval_is_on_the_desks_tab(session: AsyncSession) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    asking = await make_order(session, resident)
    quiet = await make_order(session, resident)
    await session.execute(update(Order).where(col(Order.id).in_([asking.id, quiet.id])).values(status="in_progress"))
    session.add(
        DeskNotice(district_id=place.district_id, kind="approval_needed", order_id=asking.id, title="승인 요청")
    )
    await session.flush()
    page = await queue.list_orders(session, access=_access(place))
    assert [r.order.id for r in page.rows] == [asking.id]
    assert page.total == 1 and queue.tab_counts(page.counts, approvals=page.approvals)["desk"] == 1
