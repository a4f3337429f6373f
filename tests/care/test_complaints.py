"""민원·사고 (care.complaints): recorded from the phone, an inbox conversation or an order; steps; closing with an
outcome, exactly once; another district's things refused; the open ones counted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import complaints, inbox, orders
from care.auth import Access
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from storage.db import Database
from storage.models import AccessLog, Complaint, ComplaintStep, DeskThread
from tests.care.test_races import race
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident
from tests.storage.pausing import Pause, first_write_or_lock


def desk(place: Place | None, *, role: str = "operator", operator_id: int | None = None) -> Access:
    return Access(
        operator_id=operator_id,
        username="김창구",
        ip="10.0.0.1",
        district_id=place.district_id if place else None,
        role=role,
    )


async def _world(s: AsyncSession) -> dict[str, Any]:
    mapo = await make_district(s)
    other = await make_district(s, name="은평구")
    provider = await make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
    resident = await make_resident(s, mapo, name="박순자")
    order = await make_order(s, resident)
    await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    thread = DeskThread(channel="telegram", user_key="555", resident_id=resident.id, district_id=mapo.district_id)
    s.add(thread)
    await s.flush()
    await inbox.record_incoming(s, thread=thread, text="도시락 배달하시는 분이 너무 퉁명스러워요")
    o_provider = await make_provider(s, other, name="은평나눔", is_lead=True)
    o_resident = await make_resident(s, other, name="김말순")
    o_order = await make_order(s, o_resident)
    o_thread = DeskThread(channel="telegram", user_key="777", resident_id=o_resident.id, district_id=other.district_id)
    s.add(o_thread)
    await s.flush()
    return dict(
        mapo=mapo, other=other, provider=provider, resident=resident, order=order, thread=thread,
        o_provider=o_provider, o_resident=o_resident, o_order=o_order, o_thread=o_thread,
    )  # fmt: skip


async def test_a_complaint_from_an_order_names_its_resident_and_provider(session: AsyncSession) -> None:
    w = await _world(session)
    links = await complaints.prefill(session, access=desk(w["mapo"]), order_id=w["order"].id)
    assert links.resident.id == w["resident"].id and links.provider.id == w["provider"].id  # type: ignore[union-attr]
    c = await complaints.create_complaint(
        session,
        access=desk(w["mapo"]),
        category="service",
        what_happened="도시락이 식어서 왔어요",
        steps_taken="제공기관에 전화함",
        decided_by="김 팀장",
        order_id=w["order"].id,
    )
    assert (c.source, c.resident_id, c.provider_id, c.district_id) == (
        "order",
        w["resident"].id,
        w["provider"].id,
        w["mapo"].district_id,
    )
    assert c.status == "open" and c.decided_by == "김 팀장"
    detail = await complaints.get_complaint(session, access=desk(w["mapo"]), complaint_id=c.id)  # type: ignore[arg-type]
    assert [s.text for s in detail.steps] == ["제공기관에 전화함"]


async def test_a_complaint_from_a_conversation_links_the_thread_and_its_resident(session: AsyncSession) -> None:
    w = await _world(session)
    c = await complaints.create_complaint(
        session,
        access=desk(w["mapo"]),
        category="unkind",
        what_happened="배달원이 퉁명스러웠다고 하심",
        thread_id=w["thread"].id,
    )
    assert (c.source, c.thread_id, c.resident_id, c.provider_id) == ("inbox", w["thread"].id, w["resident"].id, None)


async def test_a_phone_complaint_needs_no_resident(session: AsyncSession) -> None:
    w = await _world(session)
    c = await complaints.create_complaint(
        session, access=desk(w["mapo"]), category="other", what_happened="이름을 밝히지 않은 분의 전화"
    )
    assert (c.source, c.resident_id, c.order_id) == ("phone", None, None)
    with pytest.raises(InvalidInput):
        await complaints.create_complaint(session, access=desk(w["mapo"]), category="other", what_happened="  ")
    with pytest.raises(InvalidInput):
        await complaints.create_complaint(session, access=desk(w["mapo"]), category="nonsense", what_happened="x")
    # The all-district admin names the district when nothing else does.
    with pytest.raises(InvalidInput):
        await complaints.create_complaint(session, access=desk(None, role="admin"), category="other", what_happened="x")
    with pytest.raises(PermissionDenied):
        await complaints.create_complaint(
            session, access=desk(w["mapo"], role="viewer"), category="other", what_happened="x"
        )


@pytest.mark.parametrize("forged", ["resident_id", "order_id", "provider_id", "thread_id"])
async def test_another_districts_resident_order_provider_or_thread_is_refused(
    session: AsyncSession, forged: str
) -> None:
    w = await _world(session)
    theirs = {"resident_id": "o_resident", "order_id": "o_order", "provider_id": "o_provider", "thread_id": "o_thread"}
    with pytest.raises(NotFound):
        await complaints.create_complaint(
            session,
            access=desk(w["mapo"]),
            category="service",
            what_happened="x",
            **{forged: w[theirs[forged]].id},
        )
    # The all-district admin cannot mix two districts in one complaint either.
    with pytest.raises(NotFound):
        await complaints.create_complaint(
            session,
            access=desk(None, role="admin"),
            category="service",
            what_happened="x",
            resident_id=w["resident"].id,
            **({forged: w[theirs[forged]].id} if forged != "resident_id" else {"order_id": w["o_order"].id}),
        )
    assert (await session.execute(select(func.count()).select_from(Complaint))).scalar_one() == 0


async def test_another_districts_operator_sees_nothing_and_cannot_act(session: AsyncSession) -> None:
    w = await _world(session)
    c = await complaints.create_complaint(
        session, access=desk(w["mapo"]), category="accident", what_happened="넘어지셨어요", resident_id=w["resident"].id
    )
    theirs = desk(w["other"])
    with pytest.raises(NotFound):
        await complaints.get_complaint(session, access=theirs, complaint_id=c.id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await complaints.add_step(session, access=theirs, complaint_id=c.id, text="x")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await complaints.close_complaint(session, access=theirs, complaint_id=c.id, outcome="x")  # type: ignore[arg-type]
    assert await complaints.list_complaints(session, access=theirs) == []
    assert await complaints.count_open(session, access=theirs) == 0
    assert await complaints.count_open(session, access=desk(w["mapo"])) == 1
    assert await complaints.count_open(session, access=desk(None, role="admin")) == 1


async def test_the_list_puts_open_ones_first_and_filters(session: AsyncSession) -> None:
    w = await _world(session)
    me = desk(w["mapo"])
    first = await complaints.create_complaint(session, access=me, category="conflict", what_happened="갈등 1")
    second = await complaints.create_complaint(
        session, access=me, category="service", what_happened="불만 2", order_id=w["order"].id
    )
    await complaints.close_complaint(session, access=me, complaint_id=second.id, outcome="사과하고 다시 배달함")  # type: ignore[arg-type]
    third = await complaints.create_complaint(session, access=me, category="service", what_happened="불만 3")
    rows = await complaints.list_complaints(session, access=me)
    assert [r.complaint.id for r in rows] == [third.id, first.id, second.id]
    assert [r.complaint.id for r in await complaints.list_complaints(session, access=me, status="closed")] == [
        second.id
    ]
    assert {r.complaint.id for r in await complaints.list_complaints(session, access=me, category="service")} == {
        second.id,
        third.id,
    }
    by_provider = await complaints.list_complaints(session, access=me, provider_id=w["provider"].id)
    assert [r.complaint.id for r in by_provider] == [second.id]
    assert await complaints.count_open(session, access=me) == 2


async def test_closing_needs_an_outcome_and_a_closed_complaint_takes_no_more_steps(session: AsyncSession) -> None:
    w = await _world(session)
    me = desk(w["mapo"])
    c = await complaints.create_complaint(session, access=me, category="accident", what_happened="넘어지셨어요")
    await complaints.add_step(session, access=me, complaint_id=c.id, text="보호자에게 연락함")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        await complaints.close_complaint(session, access=me, complaint_id=c.id, outcome="  ")  # type: ignore[arg-type]
    assert "outcome" in refused.value.msgid
    closed = await complaints.close_complaint(
        session,
        access=me,
        complaint_id=c.id,  # type: ignore[arg-type]
        outcome="병원 진료 후 귀가, 제공기관 보험 처리",
        decided_by="돌봄지원팀장",
    )
    assert closed.status == "closed" and closed.closed_at is not None and closed.decided_by == "돌봄지원팀장"
    with pytest.raises(ConflictError):
        await complaints.add_step(session, access=me, complaint_id=c.id, text="x")  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        await complaints.close_complaint(session, access=me, complaint_id=c.id, outcome="다른 결과")  # type: ignore[arg-type]
    stored = await session.get(Complaint, c.id)
    assert stored is not None and stored.outcome == "병원 진료 후 귀가, 제공기관 보험 처리"
    actions = list((await session.execute(select(AccessLog.action).order_by(AccessLog.id))).scalars())
    assert {"complaint_create", "complaint_step", "complaint_close"} <= set(actions)


async def test_a_registration_number_in_a_complaint_is_refused(session: AsyncSession) -> None:
    w = await _world(session)
    with pytest.raises(InvalidInput):
        await complaints.create_complaint(
            session, access=desk(w["mapo"]), category="other", what_happened="주민번호 410101-2345678 라고 하심"
        )


async def test_two_operators_closing_at_once_exactly_one_outcome_is_kept(db: Database) -> None:
    async with db.transaction() as s:
        w = await _world(s)
        c = await complaints.create_complaint(
            s, access=desk(w["mapo"]), category="conflict", what_happened="이용자와 제공인력 사이 다툼"
        )
        await complaints.add_step(s, access=desk(w["mapo"]), complaint_id=c.id, text="양쪽 이야기를 들음")  # type: ignore[arg-type]
    me = desk(w["mapo"])

    def closing(outcome: str) -> Any:
        async def step(s: AsyncSession) -> Any:
            return await complaints.close_complaint(s, access=me, complaint_id=c.id, outcome=outcome)  # type: ignore[arg-type]

        return step

    outcome = await race(db, closing("제공인력 교체"), Pause(first_write_or_lock), closing("사과로 마무리"))
    results = [outcome.paused, outcome.meanwhile]
    winners = [r for r in results if isinstance(r, Complaint)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].msgid == complaints.MSG_CLOSED_ALREADY
    kept = "제공인력 교체" if outcome.first == "paused" else "사과로 마무리"
    async with db.sessions() as s:
        stored = await s.get(Complaint, c.id)
        assert stored is not None and stored.status == "closed" and stored.outcome == kept
        closes = (await s.execute(select(func.count()).where(AccessLog.action == "complaint_close"))).scalar_one()
        assert closes == 1
        assert (await s.execute(select(func.count()).select_from(ComplaintStep))).scalar_one() == 1


async def test_a_conversation_of_no_district_yet_takes_the_district_the_admin_picks(session: AsyncSession) -> None:
    w = await _world(session)
    thread = DeskThread(channel="telegram", user_key="999")
    session.add(thread)
    await session.flush()
    with pytest.raises(NotFound):  # a district's operator never sees it
        await complaints.prefill(session, access=desk(w["mapo"]), thread_id=thread.id)
    admin = desk(None, role="admin")
    links = await complaints.prefill(session, access=admin, thread_id=thread.id)
    assert links.district_id is None and links.resident is None
    with pytest.raises(InvalidInput):
        await complaints.create_complaint(
            session, access=admin, category="other", what_happened="x", thread_id=thread.id
        )
    c = await complaints.create_complaint(
        session,
        access=admin,
        category="other",
        what_happened="누구인지 모르는 분의 항의",
        thread_id=thread.id,
        district_id=w["mapo"].district_id,
    )
    assert (c.district_id, c.thread_id, c.source) == (w["mapo"].district_id, thread.id, "inbox")
