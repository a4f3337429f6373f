"""통계 against a November counted by hand (the figures are worked out in the comments).

Mapo (make_district): 1권역 = 1-1동, 1-2동; 2권역 = 2-1동, 2-2동. Three residents:
  r1 80세, 1-1동, 수급 (eligible)          — 어르신
  r2 50세, 장애, 2-1동, 수급 (eligible)    — 장애인
  r3 70세, 장애, 1-2동, not eligible       — 어르신·장애인 (pays everything)
Orders received in November 2026 (UTC times; the steps' hours in brackets):
  O1 meals 10, r1, 본인:    assigned A +2h, accepted +1h, completed +24h (27h); visits: 11-02 no-show, 11-03 10 meals
  O2 meals 5, r2, 가족:     assigned C +4h, accepted +2h, completed 4 meals +18h (24h)
  O3 home_care 2, r3, 돌봄매니저: assigned A +1h, accepted +10h, completed 2 visits +48h (59h)
  O4 escort 2, r1, 보건소:  assigned B +6h, declined by B (인력 부족) 11-05 08h; assigned C 10h,
                            declined by C (일정 불가: 이번 주는 어려워요) 12h; left in 검토
  O5 info, r2, 전화:        기초상담 at the desk +1h
  O6 info, r3, 본인:        단순안내 at the desk +1h
  O7 info, r1, 가족:        기초상담 at the desk +2h
  O8 meals 3, r2, 본인:     cancelled
Outside: an October order O0 of r1 (meals 5), and a November order in another district.
  O0's November: assigned C 11-12 01h (deadline 11-13), expired by the chaser 11-15 01h,
  assigned D 02h, reassigned to C 03h, taken back by the desk 04h (검토 again).
Providers: A 가나돌봄협동조합 (cooperative), B 다라사회적협동조합 (social cooperative),
  C 마포종합사회복지관 (welfare agency: not social economy), D 바사자활기업 (self-sufficiency).
Check-ins (r1, r2 on an active schedule; r3's schedule paused for good, inactive; UTC 01h):
  r1: 11-02 answered ok; 11-03 reminded, answered ok; 11-04 reminded, missed, family alerted,
      answered ok later; 11-05 reminded, missed, alerted, desk called: fine;
      11-06 not sent (the service was down), missed.
  r2: 11-02 answered help; 11-03 missed (nobody to alert), no follow-up; 11-04 unreachable;
      11-05 skipped (holiday); 11-06 missed, desk asked a visit.
  Outside: r1 on 10-30, the stranger (another district) on 11-02.
Targets of Mapo: meals 4 orders, 3 people and 20 units a month; home care 2 orders a month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import chasers, entitlements, orders, provider_tasks, statistics
from care.auth import Access
from console import charts
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied
from storage.models import AccessLog, Assignment, CheckinSchedule, CheckinSlot, Order, Survey, Visit
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident


def at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@dataclass
class November:
    place: Place
    other: Place
    a_id: int
    b_id: int
    c_id: int
    d_id: int


async def _assign(session: AsyncSession, order: Order, provider_id: int, when: datetime) -> int:
    assert order.id is not None
    clock.set_now(when)
    await orders.screen(session, order_id=order.id, actor=DESK)
    assignment = await orders.assign(session, order_id=order.id, provider_id=provider_id, actor=DESK)
    assert assignment.id is not None
    return assignment.id


async def november(session: AsyncSession, place: Place | None = None, other: Place | None = None) -> November:
    """The November above (in the given districts, or two new ones)."""
    clock.set_now(at(20, 1, month=10))
    place = place or await make_district(session)
    other = other or await make_district(session, name="은평구")
    a = await make_provider(session, place, name="가나돌봄협동조합", is_lead=True)
    b = await make_provider(session, place, name="다라사회적협동조합", services=("escort",))
    c = await make_provider(session, place, name="마포종합사회복지관", services=("meals", "escort"))
    d = await make_provider(session, place, name="바사자활기업", services=("meals",))
    for provider, kind in ((a, "cooperative"), (b, "social_cooperative"), (c, "welfare_agency"),
                           (d, "self_sufficiency")):  # fmt: skip
        provider.kind = kind
        session.add(provider)
    assert a.id is not None and b.id is not None and c.id is not None and d.id is not None
    r1 = await make_resident(session, place, birth_year=1946)
    r2 = await make_resident(session, place, birth_year=1976, disabled=True, dong_id=place.dongs[2].id)
    r3 = await make_resident(session, place, birth_year=1956, disabled=True, dong_id=place.dongs[1].id, decided=False)
    assert r3.id is not None
    desk = Access(operator_id=None, username=DESK.name, ip=None, district_id=place.district_id, role="operator")
    await entitlements.decide(
        session, resident_id=r3.id, access=desk, eligible=False, ground=None, situations=[],
        income_tier="general", valid_from=date(2026, 1, 1),
    )  # fmt: skip
    o0 = await make_order(session, r1, service_code="meals", units=5, source="resident")  # October: outside
    assert o0.id is not None
    stranger = await make_resident(session, other)

    def provider_actor(p: object) -> object:
        return provider_tasks.actor_for(p, channel="telegram")  # type: ignore[arg-type]

    async def step(order: Order, provider: object, times: tuple[datetime, datetime, datetime], units: int) -> None:
        pid = provider.id  # type: ignore[attr-defined]
        assignment_id = await _assign(session, order, pid, times[0])
        clock.set_now(times[1])
        actor = provider_actor(provider)
        await provider_tasks.accept(session, provider_id=pid, assignment_id=assignment_id, actor=actor)  # type: ignore[arg-type]
        await provider_tasks.start(session, provider_id=pid, assignment_id=assignment_id, actor=actor)  # type: ignore[arg-type]
        clock.set_now(times[2])
        await provider_tasks.complete(session, provider_id=pid, assignment_id=assignment_id, delivered_units=units,
                                      note=None, actor=actor)  # type: ignore[arg-type]  # fmt: skip

    clock.set_now(at(2, 1))
    o1 = await make_order(session, r1, service_code="meals", units=10, source="resident")
    clock.set_now(at(3, 1))
    o2 = await make_order(session, r2, service_code="meals", units=5, source="family")
    clock.set_now(at(4, 0))
    o3 = await make_order(session, r3, service_code="home_care", units=2, source="care_manager")
    clock.set_now(at(5, 0))
    o4 = await make_order(session, r1, service_code="escort", units=2, source="health_center")
    clock.set_now(at(6, 0))
    o5 = await make_order(session, r2, service_code="info", units=1, source="desk_phone")
    clock.set_now(at(6, 2))
    o6 = await make_order(session, r3, service_code="info", units=1, source="resident")
    clock.set_now(at(7, 0))
    o7 = await make_order(session, r1, service_code="info", units=1, source="family")
    clock.set_now(at(8, 0))
    o8 = await make_order(session, r2, service_code="meals", units=3, source="resident")
    await make_order(session, stranger, service_code="meals", units=3, source="resident")  # another district

    await step(o1, a, (at(2, 3), at(2, 4), at(3, 4)), 10)
    await step(o2, c, (at(3, 5), at(3, 7), at(4, 1)), 4)
    await step(o3, a, (at(4, 1), at(4, 11), at(6, 11)), 2)
    b_assignment = await _assign(session, o4, b.id, at(5, 6))
    clock.set_now(at(5, 8))
    await provider_tasks.decline(session, provider_id=b.id, assignment_id=b_assignment, reason_code="staff",
                                 actor=provider_actor(b))  # type: ignore[arg-type]  # fmt: skip
    assert o4.id is not None
    clock.set_now(at(5, 10))
    c_assignment = await orders.assign(session, order_id=o4.id, provider_id=c.id, actor=DESK)
    assert c_assignment.id is not None
    clock.set_now(at(5, 12))
    await provider_tasks.decline(session, provider_id=c.id, assignment_id=c_assignment.id, reason_code="schedule",
                                 text="이번 주는 어려워요", actor=provider_actor(c))  # type: ignore[arg-type]  # fmt: skip
    # O0 (October's): late answer, reassignment, taken back.
    late = await _assign(session, o0, c.id, at(12, 1))
    (await session.get(Assignment, late)).deadline = at(13, 1)  # type: ignore[union-attr]
    clock.set_now(at(15, 1))
    assert await chasers.expire_assignment(session, assignment_id=late) is not None
    clock.set_now(at(15, 2))
    await orders.assign(session, order_id=o0.id, provider_id=d.id, actor=DESK)
    clock.set_now(at(15, 3))
    await orders.reassign(session, order_id=o0.id, provider_id=c.id, reason="이용자가 원함", actor=DESK)
    clock.set_now(at(15, 4))
    await orders.return_to_desk(session, order_id=o0.id, reason="다시 검토", actor=DESK,
                                assignment_status="withdrawn")  # fmt: skip
    for order, hour, consult in ((o5, at(6, 1), "basic"), (o6, at(6, 3), "simple"), (o7, at(7, 2), "basic")):
        clock.set_now(hour)
        assert order.id is not None
        await orders.finish_at_desk(session, order_id=order.id, action="desk_complete", what="안내함", by="김창구",
                                    consult=consult, actor=DESK)  # fmt: skip
    clock.set_now(at(9, 0))
    assert o8.id is not None
    await orders.cancel(session, order_id=o8.id, reason="본인이 취소", actor=DESK)
    # O1's meals were delivered as visits: a no-show on 11-02, ten meals on 11-03.
    for day, units, kind in ((date(2026, 11, 2), 0, "no_show"), (date(2026, 11, 3), 10, "delivered")):
        reason = "이용자 부재" if kind == "no_show" else None
        visit = Visit(district_id=place.district_id, order_id=o1.id, resident_id=r1.id, provider_id=a.id,  # type: ignore[arg-type]
                      day=day, units=units, kind=kind, reason=reason)  # fmt: skip
        session.add(visit)
    for order, score, received in ((o1, 5, "all"), (o2, 4, "partly"), (o3, 2, "none")):
        session.add(Survey(order_id=order.id, sent_at=at(10, 1), answered_at=at(10, 2), score=score,  # type: ignore[arg-type]
                           received=received, received_at=at(10, 2)))  # fmt: skip
    await _checkins(session, r1.id, r2.id, r3.id, stranger.id)  # type: ignore[arg-type]
    for code, measure, monthly in (("meals", "orders", 4), ("meals", "residents", 3), ("meals", "units", 20),
                                   ("home_care", "orders", 2)):  # fmt: skip
        await statistics.set_target(session, access=desk_admin(place), service_code=code, measure=measure,
                                    monthly=monthly)  # fmt: skip
    await session.flush()
    clock.set_now(at(1, 1, month=12) + timedelta(days=1))
    return November(place=place, other=other, a_id=a.id, b_id=b.id, c_id=c.id, d_id=d.id)


def desk_admin(place: Place) -> Access:
    return Access(operator_id=None, username="구청관리자", ip=None, district_id=place.district_id, role="admin")


async def _checkins(session: AsyncSession, r1: int, r2: int, r3: int, stranger: int) -> None:
    for rid, active in ((r1, True), (r2, True), (r3, False), (stranger, True)):
        session.add(CheckinSchedule(resident_id=rid, weekdays=[0, 1, 2, 3, 4, 5, 6], active=active))

    def slot(rid: int, day: int, status: str, *, sent: bool = True, month: int = 11, **kw: object) -> None:
        when = at(day, 1, month=month)
        hour = timedelta(hours=1)
        values: dict[str, object] = {"sent_at": when} if sent else {}
        for flag, offset in (("reminded", 1), ("missed", 2), ("escalated", 2)):
            if kw.pop(flag, False):
                values[f"{flag}_at"] = when + offset * hour
        if "answer" in kw:
            values["answered_at"] = when + 3 * hour
        session.add(CheckinSlot(resident_id=rid, scheduled_at=when, status=status, **values, **kw))  # type: ignore[arg-type]

    slot(r1, 2, "answered", answer="ok")
    slot(r1, 3, "answered", answer="ok", reminded=True)
    slot(r1, 4, "answered", answer="ok", reminded=True, missed=True, escalated=True)
    slot(r1, 5, "escalated", reminded=True, missed=True, escalated=True, followup="called_ok")
    slot(r1, 6, "missed", sent=False, missed=True, note="not sent: the check-in service was not running")
    slot(r2, 2, "answered", answer="help")
    slot(r2, 3, "missed", missed=True)
    slot(r2, 4, "unreachable", sent=False)
    slot(r2, 5, "skipped", sent=False)
    slot(r2, 6, "missed", missed=True, followup="visit")
    slot(r1, 30, "answered", month=10, answer="ok")  # October: outside
    slot(stranger, 2, "missed", missed=True)  # another district


def _rows(stats: statistics.Statistics, key: str, *columns: str) -> list[tuple[object, ...]]:
    return [(row["code"], *(row[c] for c in columns)) for row in stats.table(key).rows]


NOV = statistics.Period(date(2026, 11, 1), date(2026, 11, 30))


async def test_november_counted_by_hand(session: AsyncSession) -> None:
    w = await november(session)
    scope = statistics.Scope(district_id=w.place.district_id)
    stats = await statistics.compute(session, period=NOV, scope=scope)
    # 8 requests: meals 3 (37.5%), home care 1, escort 1, 기초상담 2 (25%), 단순안내 1 (12.5%);
    # 7 not cancelled (meals 2 = 28.6%); 6 completed (meals 2 = 33.3%, info 3 = 50%).
    columns = ("requests", "requests_share", "orders", "orders_share", "completed", "completed_share")
    assert _rows(stats, "services", *columns) == [
        ("home_care", 1, 12.5, 1, 14.3, 1, 16.7),
        ("escort", 1, 12.5, 1, 14.3, 0, 0.0),
        ("meals", 3, 37.5, 2, 28.6, 2, 33.3),
        ("info:basic", 2, 25.0, 2, 28.6, 2, 33.3),
        ("info:simple", 1, 12.5, 1, 14.3, 1, 16.7),
        ("total", 8, 100.0, 7, 100.0, 6, 100.0),
    ]
    # Amounts of the November visits and completions: meals 72,000 + 28,800 (4 of 5 delivered),
    # public; home care 2 × 46,130 = 92,260, all the resident's (not eligible).
    # Averages: meals 100,800 / 2 = 50,400; all 193,060 / 3 = 64,353.3 → 64,353.
    assert _rows(stats, "amounts", "cases", "units", "total", "public", "resident", "average") == [
        ("home_care", 1, 2, 92_260, 0, 92_260, 92_260),
        ("meals", 2, 14, 100_800, 100_800, 0, 50_400),
        ("total", 3, 16, 193_060, 100_800, 92_260, 64_353),
    ]
    assert _rows(stats, "sources", "requests", "share") == [
        ("resident", 3, 37.5), ("family", 2, 25.0), ("care_manager", 1, 12.5), ("desk_phone", 1, 12.5),
        ("health_center", 1, 12.5),
        ("desk_chat", 0, 0.0), ("total", 8, 100.0),
    ]  # fmt: skip
    assert [(r["label"], r["requests"]) for r in stats.table("regions").rows] == [
        ("1권역", 5), ("2권역", 3), ("합계", 8)
    ]  # fmt: skip
    assert [(r["label"], r["requests"], r["share"]) for r in stats.table("dongs").rows] == [
        ("1-1동", 3, 37.5), ("1-2동", 2, 25.0), ("2-1동", 3, 37.5), ("합계", 8, 100.0)
    ]  # fmt: skip
    assert _rows(stats, "groups", "requests") == [
        ("elderly", 3), ("disabled", 3), ("elderly_disabled", 2), ("other", 0), ("unknown", 0), ("total", 8)
    ]  # fmt: skip
    # Funnel: 8 received, 4 assigned (50%), 3 accepted (37.5%), 6 completed (75%).
    assert _rows(stats, "funnel", "orders", "share") == [
        ("requested", 8, 100.0), ("assigned", 4, 50.0), ("accepted", 3, 37.5), ("completed", 6, 75.0)
    ]  # fmt: skip
    # Request→assignment [1, 2, 4, 6]: median (2+4)/2 = 3, p90 at rank 2.7 = 4 + 0.7×2 = 5.4.
    # Assignment→acceptance [1, 2, 10]: median 2, p90 at 1.8 = 2 + 0.8×8 = 8.4.
    # Acceptance→completion [18, 24, 48]: median 24, p90 = 24 + 0.8×24 = 43.2.
    # Request→completion [1, 1, 2, 24, 27, 59]: median (2+24)/2 = 13, p90 at 4.5 = 27 + 0.5×32 = 43.
    assert _rows(stats, "durations", "orders", "median", "p90") == [
        ("request_assignment", 4, 3.0, 5.4),
        ("assignment_acceptance", 3, 2.0, 8.4),
        ("acceptance_completion", 3, 24.0, 43.2),
        ("request_completion", 6, 13.0, 43.0),
    ]
    # A: 2 assigned (O1, O3), 2 accepted (100%), 2 completed, 1 no-show, satisfaction (5+2)/2 = 3.5,
    # received 1 all / 1 none. B: 1 assigned, declined (0%).
    # C: 4 assigned in November (O2, O4, O0, O0 again): O2 done, O4 declined, O0 expired, O0 withdrawn
    # (not decided) → acceptance 1 / 3 = 33.3%; O2's survey 4, partly received. D: 1 assigned, withdrawn.
    providers = {r["code"]: r for r in stats.table("providers").rows}
    a_row = providers[str(w.a_id)]
    a_row = {k: v for k, v in a_row.items() if k not in ("code", "expired")}
    assert a_row == {
        "label": "가나돌봄협동조합",
        "assigned": 2,
        "accepted": 2,
        "declined": 0,
        "acceptance": 100.0,
        "completed": 2,
        "completion": 100.0,
        "no_shows": 1,
        "surveys": 2,
        "score": 3.5,
        "received_all": 1,
        "received_partly": 0,
        "received_not": 1,
    }
    b = providers[str(w.b_id)]
    assert (b["assigned"], b["declined"], b["acceptance"], b["completed"], b["surveys"], b["score"]) == (
        1, 1, 0.0, 0, 0, None
    )  # fmt: skip
    c = providers[str(w.c_id)]
    columns = ("assigned", "accepted", "declined", "expired", "acceptance", "completed", "surveys", "score",
               "received_partly")  # fmt: skip
    assert tuple(c[k] for k in columns) == (4, 1, 1, 1, 33.3, 1, 1, 4.0, 1)
    d = providers[str(w.d_id)]
    assert (d["assigned"], d["accepted"], d["declined"], d["expired"], d["acceptance"]) == (1, 0, 0, 0, 0.0)


async def test_the_new_figures_counted_by_hand(session: AsyncSession) -> None:
    w = await november(session)
    stats = await statistics.compute(session, period=NOV, scope=statistics.Scope(district_id=w.place.district_id))
    # Completed by a provider (orders received in November): O1 meals by A (cooperative), O2 meals by
    # C (welfare agency), O3 home care by A. Meals 1 of 2 = 50%, home care 1 of 1, all 2 of 3 = 66.7%.
    assert _rows(stats, "social_economy", "completed", "social", "share") == [
        ("home_care", 1, 1, 100.0), ("meals", 2, 1, 50.0), ("total", 3, 2, 66.7)
    ]  # fmt: skip
    # November's steps by the day they happened. Assignments made (assign + reassign): home care O3;
    # escort O4 to B and to C; meals O1, O2, O0 to C, O0 to D, and O0 reassigned to C = 5.
    # Returns: escort 2 declines (2 of 2 = 100%); meals O0's expiry and the desk's take-back (2 of 5
    # = 40%). Orders returned or reassigned: O4, O0. All: 4 returns of 8 = 50%.
    columns = ("assigned", "returned", "returned_share", "declined", "expired", "taken_back", "reassigned", "orders")
    assert _rows(stats, "returns", *columns) == [
        ("home_care", 1, 0, 0.0, 0, 0, 0, 0, 0),
        ("escort", 2, 2, 100.0, 2, 0, 0, 0, 1),
        ("meals", 5, 2, 40.0, 0, 1, 1, 1, 1),
        ("total", 8, 4, 50.0, 2, 1, 1, 1, 2),
    ]
    # Declines: B 인력 부족, C 일정 불가 (with its words) → one each, 50%.
    assert _rows(stats, "declines", "requests", "share") == [
        ("staff", 1, 50.0), ("schedule", 1, 50.0), ("area", 0, 0.0), ("other", 0, 0.0), ("total", 2, 100.0)
    ]  # fmt: skip
    # Check-ins: enrolled r1, r2 (r3 inactive; the stranger elsewhere); 10 due in November, of them sent 7
    # (70%), not sent 2 (r2's unreachable, r1's 11-06: 20%), skipped 1 (10%). Of the 7 sent: answered 4
    # (57.1%), help 1 (14.3%), reminded 3 (42.9%), missed 4 (57.1%), alerted 2 (28.6%).
    assert _rows(stats, "checkins", "count", "share") == [
        ("enrolled", 2, None), ("people", 2, None), ("slots", 10, None), ("sent", 7, 70.0), ("not_sent", 2, 20.0),
        ("skipped", 1, 10.0), ("answered", 4, 57.1), ("help", 1, 14.3), ("reminded", 3, 42.9),
        ("missed", 4, 57.1), ("escalated", 2, 28.6),
    ]  # fmt: skip
    # The 4 missed after being sent: r1 11-04 answered later (alerted), r1 11-05 called: fine (alerted),
    # r2 11-03 open, r2 11-06 visit asked → 25% each; 2 alerted.
    assert _rows(stats, "checkin_outcomes", "missed", "alerted", "share") == [
        ("called_ok", 1, 1, 25.0), ("visit", 1, 0, 25.0), ("emergency", 0, 0, 0.0), ("family_ok", 0, 0, 0.0),
        ("late_ok", 1, 1, 25.0), ("late_help", 0, 0, 0.0), ("open", 1, 0, 25.0), ("total", 4, 2, 100.0),
    ]  # fmt: skip
    # Targets against November's orders not cancelled: home care O3 = 1 of 2 (50%); meals O1, O2 = 2 of
    # 4 (50%), people r1, r2 = 2 of 3 (66.7%), units 10 + 4 delivered = 14 of 20 (70%).
    assert _rows(stats, "targets", "month", "target", "actual", "reached") == [
        ("home_care:orders:2026-11", "2026-11", 2, 1, 50.0),
        ("meals:orders:2026-11", "2026-11", 4, 2, 50.0),
        ("meals:residents:2026-11", "2026-11", 3, 2, 66.7),
        ("meals:units:2026-11", "2026-11", 20, 14, 70.0),
    ]
    # The chart beside names each bar whole: service · measure in a word · month (nothing cut).
    targets_chart = charts.spec_of(stats.table("targets"), "ko")
    assert targets_chart is not None and targets_chart.labels == (
        "일시재가 · 건수 · 2026-11", "식사지원 · 건수 · 2026-11",
        "식사지원 · 인원 · 2026-11", "식사지원 · 단위 수 · 2026-11",
    )  # fmt: skip
    # Trends: a month is shorter than 12, so December 2025 to November 2026; October has O0 (meals),
    # November the 7 not cancelled (O8 is).
    trends = stats.table("trends")
    keys = [c.key for c in trends.columns]
    assert (keys[1], keys[-2], len(keys)) == ("2025-12", "2026-11", 14)
    assert [(r["code"], r["2026-10"], r["2026-11"], r["total"]) for r in trends.rows] == [
        ("home_care", 0, 1, 1), ("escort", 0, 1, 1), ("meals", 1, 2, 3), ("info:basic", 0, 2, 2),
        ("info:simple", 0, 1, 1), ("total", 1, 7, 8),
    ]  # fmt: skip
    assert all(r["2026-01"] == 0 for r in trends.rows)


async def test_targets_over_a_quarter_and_a_cut_month(session: AsyncSession) -> None:
    w = await november(session)
    scope = statistics.Scope(district_id=w.place.district_id)
    quarter = await statistics.compute(session, period=statistics.parse_period({"quarter": "2026-Q4"}), scope=scope)
    meals = [r for r in quarter.table("targets").rows if r["code"].startswith("meals:orders")]
    # October O0, November O1 and O2, December nothing: 1, 2, 0 of 4 each; 3 of 12 = 25%.
    assert [(r["month"], r["target"], r["actual"], r["reached"]) for r in meals] == [
        ("2026-10", 4, 1, 25.0), ("2026-11", 4, 2, 50.0), ("2026-12", 4, 0, 0.0), ("합계", 12, 3, 25.0)
    ]  # fmt: skip
    # The quarter is 3 months long: the trends are the 12 months ending with it (January to December).
    assert [c.key for c in quarter.table("trends").columns][1] == "2026-01"
    # 1–15 November: half the month, so half the target (4 × 15 / 30 = 2); O1 and O2 reached it.
    half = statistics.Period(date(2026, 11, 1), date(2026, 11, 15))
    stats = await statistics.compute(session, period=half, scope=scope)
    meals = [r for r in stats.table("targets").rows if r["code"].startswith("meals:orders")]
    assert [(r["target"], r["actual"], r["reached"]) for r in meals] == [(2, 2, 100.0)]
    # A 권역 has no targets of its own: the table is empty.
    region = statistics.Scope(district_id=w.place.district_id, region_id=w.place.regions[0].id)
    assert (await statistics.compute(session, period=NOV, scope=region)).table("targets").rows == []


async def test_only_an_admin_sets_a_target_and_only_for_their_district(session: AsyncSession) -> None:
    w = await november(session)
    mapo, other = w.place.district_id, w.other.district_id
    theirs = Access(operator_id=None, username="은평관리자", ip=None, district_id=other, role="admin")
    # Another district's admin naming Mapo sets their own district's target.
    assert await statistics.set_target(session, access=theirs, service_code="meals", measure="orders",
                                       monthly=7, district_id=mapo) == other  # fmt: skip
    mine = await statistics.list_targets(session, access=desk_admin(w.place), district_id=None)
    assert [(t.service_code, t.measure, t.monthly) for t in mine] == [
        ("home_care", "orders", 2), ("meals", "orders", 4), ("meals", "residents", 3), ("meals", "units", 20)
    ]  # fmt: skip
    seen = await statistics.list_targets(session, access=theirs, district_id=mapo)
    assert [(t.service_code, t.monthly) for t in seen] == [("meals", 7)]
    operator = Access(operator_id=None, username="창구", ip=None, district_id=mapo, role="operator")
    with pytest.raises(PermissionDenied):
        await statistics.set_target(session, access=operator, service_code="meals", measure="orders", monthly=1)
    everyone = Access(operator_id=None, username="admin", ip=None, district_id=None, role="admin")
    with pytest.raises(InvalidInput):  # the all-district admin must name a district
        await statistics.set_target(session, access=everyone, service_code="meals", measure="orders", monthly=1)
    for service, measure, monthly in (("lunch", "orders", 1), ("meals", "visits", 1), ("meals", "orders", -1),
                                      ("meals", "orders", 1_000_001)):  # fmt: skip
        with pytest.raises(InvalidInput):
            await statistics.set_target(session, access=desk_admin(w.place), service_code=service, measure=measure,
                                        monthly=monthly)  # fmt: skip
    # The all-district admin sees the two districts' meals targets summed; 0 removes one.
    await statistics.set_target(session, access=everyone, service_code="meals", measure="orders", monthly=0,
                                district_id=mapo)  # fmt: skip
    both = await statistics.compute(session, period=NOV, scope=statistics.Scope(district_id=None))
    assert [(r["code"], r["target"]) for r in both.table("targets").rows if "orders" in r["code"]] == [
        ("home_care:orders:2026-11", 2), ("meals:orders:2026-11", 7)
    ]  # fmt: skip
    logged = (await session.execute(select(AccessLog).where(AccessLog.action == "statistics_target_set"))).scalars()
    assert [row.username for row in logged] == ["구청관리자"] * 4 + ["은평관리자", "admin"]


async def test_a_region_a_dong_and_a_quarter(session: AsyncSession) -> None:
    w = await november(session)
    region = statistics.Scope(district_id=w.place.district_id, region_id=w.place.regions[1].id)
    stats = await statistics.compute(session, period=NOV, scope=region)
    # 2권역 is r2 alone: O2 (meals), O5 (기초상담), O8 (meals, cancelled); amounts O2's 28,800.
    assert _rows(stats, "services", "requests") == [("meals", 2), ("info:basic", 1), ("total", 3)]
    assert _rows(stats, "amounts", "cases", "total") == [("meals", 1, 28_800), ("total", 1, 28_800)]
    # r2's check-ins: enrolled 1, 5 due, 3 sent (11-02, 11-03, 11-06), 1 answered (help): 33.3%.
    checkins = {r["code"]: (r["count"], r["share"]) for r in stats.table("checkins").rows}
    assert (checkins["enrolled"], checkins["slots"], checkins["sent"], checkins["answered"]) == (
        (1, None), (5, None), (3, 60.0), (1, 33.3)
    )  # fmt: skip
    # 2권역's orders were all delivered by C (welfare agency) or not by a provider: O2, 0%.
    assert _rows(stats, "social_economy", "completed", "share") == [("meals", 1, 0.0), ("total", 1, 0.0)]
    dong = statistics.Scope(district_id=w.place.district_id, dong_id=w.place.dongs[1].id)
    stats = await statistics.compute(session, period=NOV, scope=dong)
    assert _rows(stats, "services", "requests") == [("home_care", 1), ("info:simple", 1), ("total", 2)]
    quarter = statistics.parse_period({"quarter": "2026-Q4"})
    assert (quarter.first, quarter.last) == (date(2026, 10, 1), date(2026, 12, 31))
    stats = await statistics.compute(session, period=quarter, scope=statistics.Scope(w.place.district_id))
    assert stats.table("services").rows[-1]["requests"] == 9  # with October's order


async def test_an_operator_sees_only_their_district_and_the_view_is_logged(session: AsyncSession) -> None:
    w = await november(session)
    theirs = Access(operator_id=None, username="은평", ip=None, district_id=w.other.district_id, role="operator")
    stats = await statistics.for_operator(session, access=theirs, period=NOV, district_id=w.place.district_id)
    assert stats.scope.district_id == w.other.district_id
    assert stats.table("services").rows == [
        {"code": "meals", "label": "식사지원", "requests": 1, "requests_share": 100.0, "orders": 1,
         "orders_share": 100.0, "completed": 0, "completed_share": 0.0},
        {"code": "total", "label": "합계", "requests": 1, "requests_share": 100.0, "orders": 1,
         "orders_share": 100.0, "completed": 0, "completed_share": 0.0},
    ]  # fmt: skip
    with pytest.raises(NotFound):  # a 권역 of another district
        await statistics.for_operator(session, access=theirs, period=NOV, region_id=w.place.regions[0].id)
    logged = (await session.execute(select(AccessLog).where(AccessLog.action == "statistics_view"))).scalars().all()
    assert [row.username for row in logged] == ["은평"]
    everyone = Access(operator_id=None, username="admin", ip=None, district_id=None, role="admin")
    both = await statistics.for_operator(session, access=everyone, period=NOV)
    assert both.table("services").rows[-1]["requests"] == 9


@pytest.mark.parametrize(
    "params",
    [{"month": "2026-13"}, {"from": "2026-11-30", "to": "2026-11-01"}, {"year": "26"}, {"quarter": "2026-Q5"},
     {"from": "어제"}, {"period": "week"}, {"from": "2000-01-01", "to": "2026-12-31"}],
)  # fmt: skip
def test_a_period_that_cannot_be_read_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        statistics.parse_period(params)


def test_the_period_kind_chosen_says_which_field_counts() -> None:
    form = {"period": "year", "month": "2026-11", "year": "2025", "from": "", "to": ""}
    assert statistics.parse_period(form) == statistics.Period(date(2025, 1, 1), date(2025, 12, 31))
    assert statistics.parse_period({"month": "2026-02"}).last == date(2026, 2, 28)


def test_median_and_percentile_interpolate_between_ranks() -> None:
    assert statistics.percentile([6, 1, 4, 2], 0.5) == 3.0
    assert statistics.percentile([1, 2, 4, 6], 0.9) == pytest.approx(5.4)
    assert statistics.percentile([], 0.5) is None
    assert statistics.average(193_060, 3) == 64_353 and statistics.average(5, 2) == 3


async def test_the_info_kind_is_only_for_information_orders(session: AsyncSession) -> None:
    clock.set_now(at(2, 1))
    place = await make_district(session)
    resident = await make_resident(session, place)
    health = await make_order(session, resident, service_code="health", units=1)
    assert health.id is not None
    with pytest.raises(InvalidInput):
        await orders.finish_at_desk(session, order_id=health.id, action="desk_complete", what="안내", by="김창구",
                                    consult="basic", actor=DESK)  # fmt: skip
    info = await make_order(session, resident, service_code="info", units=1)
    assert info.id is not None
    with pytest.raises(InvalidInput):
        await orders.finish_at_desk(session, order_id=info.id, action="desk_complete", what="안내", by="김창구",
                                    consult="long", actor=DESK)  # fmt: skip
    done = await orders.finish_at_desk(session, order_id=info.id, action="desk_complete", what="안내",
                                       by="김창구", consult="simple", actor=DESK)  # fmt: skip
    assert done.details["desk"]["consult"] == "simple"
    assert (await session.execute(select(Assignment))).first() is None
