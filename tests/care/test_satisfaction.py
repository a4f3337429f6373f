"""만족도 (care.satisfaction) against answers counted by hand; the phone survey counts in the same figures.

Mapo, providers A (가나돌봄) and B (다라나눔); October and November 2026 (answers, Seoul time):
  O1 meals, A:     5 on 10-10 by messenger, comment "좋아요"
  O2 meals, A:     3 on 11-05 by messenger
  O3 home_care, B: 4 on 11-20 by messenger, comment "친절해요"
  O4 meals, B:     not asked (no messenger): on the list to call
  Another district's order: 1 on 11-06 (never in Mapo's figures)
By provider: A  10월 5.00 (1), 11월 3.00 (1), all 4.00 (2);  B  11월 4.00 (1)
By service:  meals 10월 5.00 (1), 11월 3.00 (1);  home_care 11월 4.00 (1);  overall 3 answers, 4.00
Then the desk calls O4's resident on 11-25: 2, "늦게 왔어요" → B 11월 3.00 (2), meals 11월 2.50 (2),
overall 4 answers, 3.50; nobody left to call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import orders, satisfaction, statistics, surveys
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from storage.db import Database
from storage.models import AccessLog, Order, Provider, Resident, Survey
from tests.care.test_races import race
from tests.factories import DESK, Place, make_district, make_order, make_provider, make_resident
from tests.storage.pausing import Pause, first_write_or_lock


def at(month: int, day: int, hour: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def desk(place: Place | None, *, role: str = "operator") -> Access:
    return Access(
        operator_id=None, username="김창구", ip="10.0.0.1", district_id=place.district_id if place else None, role=role
    )


@dataclass
class Autumn:
    mapo: Place
    other: Place
    a: Provider
    b: Provider
    to_call: Survey
    to_call_resident: Resident


async def _done(s: AsyncSession, resident: Resident, provider: Provider, service: str, when: datetime) -> Order:
    clock.set_now(when)
    order = await make_order(s, resident, service_code=service, units=1)
    assert order.id is not None and provider.id is not None
    await orders.screen(s, order_id=order.id, actor=DESK)
    await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.accept(s, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.start(s, order_id=order.id, actor=DESK)
    return await orders.complete(s, order_id=order.id, delivered_units=1, actor=DESK)


async def _answered(s: AsyncSession, order: Order, score: int, when: datetime, comment: str | None = None) -> None:
    s.add(
        Survey(
            order_id=order.id,  # type: ignore[arg-type]
            channel="telegram",
            chat_id="100",
            sent_at=when.replace(hour=1),
            score=score,
            comment=comment,
            answered_at=when,
        )
    )
    await s.flush()


async def autumn(s: AsyncSession) -> Autumn:
    mapo = await make_district(s)
    other = await make_district(s, name="은평구")
    a = await make_provider(s, mapo, name="가나돌봄", is_lead=True)
    b = await make_provider(s, mapo, name="다라나눔", services=("meals", "home_care"))
    r1 = await make_resident(s, mapo, name="박순자")
    r2 = await make_resident(s, mapo, name="이복례", phone="+821055556666")
    await _answered(s, await _done(s, r1, a, "meals", at(10, 8)), 5, at(10, 10), "좋아요")
    await _answered(s, await _done(s, r1, a, "meals", at(11, 3)), 3, at(11, 5))
    await _answered(s, await _done(s, r1, b, "home_care", at(11, 18)), 4, at(11, 20), "친절해요")
    o4 = await _done(s, r2, b, "meals", at(11, 21))
    to_call = Survey(order_id=o4.id)  # type: ignore[arg-type]  # made by surveys.send_due with nobody to ask
    s.add(to_call)
    stranger = await make_resident(s, other, name="김말순")
    o_provider = await make_provider(s, other, name="은평나눔", is_lead=True)
    await _answered(s, await _done(s, stranger, o_provider, "meals", at(11, 4)), 1, at(11, 6), "별로예요")
    await s.flush()
    return Autumn(mapo, other, a, b, to_call, r2)


AUTUMN = satisfaction.Months(date(2026, 10, 1), date(2026, 11, 1))


def _table(lines: list[satisfaction.Line]) -> dict[str, Any]:
    return {
        line.label or line.key: (
            {m: (f.answers, f.average) for m, f in line.months.items()},
            (line.overall.answers, line.overall.average, line.overall.by_phone),
        )
        for line in lines
    }


async def test_the_figures_per_provider_and_service_by_month(session: AsyncSession) -> None:
    w = await autumn(session)
    clock.set_now(at(11, 24))
    report = await satisfaction.get_report(session, access=desk(w.mapo), months=AUTUMN)
    assert _table(report.providers) == {
        "가나돌봄": ({"2026-10": (1, 5.0), "2026-11": (1, 3.0)}, (2, 4.0, 0)),
        "다라나눔": ({"2026-10": (0, None), "2026-11": (1, 4.0)}, (1, 4.0, 0)),
    }
    assert _table(report.services) == {
        "meals": ({"2026-10": (1, 5.0), "2026-11": (1, 3.0)}, (2, 4.0, 0)),
        "home_care": ({"2026-10": (0, None), "2026-11": (1, 4.0)}, (1, 4.0, 0)),
    }
    assert (report.overall.answers, report.overall.average, report.overall.comments) == (3, 4.0, 2)
    assert [a.comment for a in report.answers if a.comment] == ["친절해요", "좋아요"]  # newest first
    assert [(c.name, c.phone, c.provider) for c in report.to_call] == [("이복례", "010-5555-6666", "다라나눔")]
    # One month only: October.
    october = await satisfaction.get_report(
        session, access=desk(w.mapo), months=satisfaction.Months(date(2026, 10, 1), date(2026, 10, 1))
    )
    assert (october.overall.answers, october.overall.average) == (1, 5.0)
    # The view is logged, naming the residents whose comments or names were shown.
    row = (
        (await session.execute(select(AccessLog).where(AccessLog.action == "satisfaction_view").order_by(AccessLog.id)))
        .scalars()
        .first()
    )
    assert row is not None and w.to_call_resident.id in (row.resident_ids or [])


async def test_the_phone_answer_counts_in_the_same_figures(session: AsyncSession) -> None:
    w = await autumn(session)
    clock.set_now(at(11, 25))
    stored = await satisfaction.record_phone_answer(
        session,
        access=desk(w.mapo),
        survey_id=w.to_call.id,
        score=2,
        comment=" 늦게 왔어요 ",  # type: ignore[arg-type]
    )
    assert (stored.score, stored.comment, stored.phone_at, stored.channel) == (2, "늦게 왔어요", clock.now(), None)
    report = await satisfaction.get_report(session, access=desk(w.mapo), months=AUTUMN)
    assert _table(report.providers)["다라나눔"] == ({"2026-10": (0, None), "2026-11": (2, 3.0)}, (2, 3.0, 1))
    assert _table(report.services)["meals"] == ({"2026-10": (1, 5.0), "2026-11": (2, 2.5)}, (3, 3.33, 1))
    assert (report.overall.answers, report.overall.average, report.overall.by_phone) == (4, 3.5, 1)
    assert report.to_call == []
    assert report.answers[0].via == satisfaction.PHONE and report.answers[0].comment == "늦게 왔어요"
    # The provider's score everywhere else, and the statistics page's provider table, count it too.
    scores = await surveys.provider_scores(session, district_id=w.mapo.district_id)
    assert (scores[w.b.id].average, scores[w.b.id].answers) == (3.0, 2)  # type: ignore[index]
    stats = await statistics.compute(
        session,
        period=statistics.Period(date(2026, 11, 1), date(2026, 11, 30)),
        scope=statistics.Scope(district_id=w.mapo.district_id),
    )
    b_row = next(r for r in stats.table("providers").rows if r["label"] == "다라나눔")
    assert (b_row["surveys"], b_row["score"]) == (2, 3.0)
    logged = (await session.execute(select(AccessLog).where(AccessLog.action == "survey_phone_answer"))).scalar_one()
    assert logged.resident_id == w.to_call_resident.id


async def test_a_phone_answer_is_checked_and_written_down_once(session: AsyncSession) -> None:
    w = await autumn(session)
    me = desk(w.mapo)
    for score in (None, 0, 6):
        with pytest.raises(InvalidInput):
            await satisfaction.record_phone_answer(session, access=me, survey_id=w.to_call.id, score=score, comment="")  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        await satisfaction.record_phone_answer(
            session,
            access=desk(w.mapo, role="viewer"),
            survey_id=w.to_call.id,
            score=3,
            comment=None,  # type: ignore[arg-type]
        )
    with pytest.raises(NotFound):  # another district's operator
        await satisfaction.record_phone_answer(
            session,
            access=desk(w.other),
            survey_id=w.to_call.id,
            score=3,
            comment=None,  # type: ignore[arg-type]
        )
    await satisfaction.record_phone_answer(session, access=me, survey_id=w.to_call.id, score=5, comment=None)  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        await satisfaction.record_phone_answer(session, access=me, survey_id=w.to_call.id, score=1, comment="x")  # type: ignore[arg-type]
    stored = await session.get(Survey, w.to_call.id, populate_existing=True)
    assert stored is not None and (stored.score, stored.comment) == (5, None)


async def test_another_district_sees_only_its_own(session: AsyncSession) -> None:
    w = await autumn(session)
    theirs = await satisfaction.get_report(session, access=desk(w.other), months=AUTUMN)
    assert (theirs.overall.answers, theirs.overall.average) == (1, 1.0)
    assert [line.label for line in theirs.providers] == ["은평나눔"] and theirs.to_call == []
    # An operator bound to a district asking for another gets their own all the same.
    forced = await satisfaction.get_report(session, access=desk(w.other), months=AUTUMN, district_id=w.mapo.district_id)
    assert forced.district_id == w.other.district_id and forced.overall.answers == 1
    everyone = await satisfaction.get_report(session, access=desk(None, role="admin"), months=AUTUMN)
    assert everyone.overall.answers == 4
    picked = await satisfaction.get_report(
        session, access=desk(None, role="admin"), months=AUTUMN, district_id=w.mapo.district_id
    )
    assert picked.overall.answers == 3


def test_the_months_filter() -> None:
    clock.set_now(at(11, 24))
    assert satisfaction.parse_months({}).keys == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert satisfaction.parse_months({"from": "2025-12", "to": "2026-01"}).keys == ["2025-12", "2026-01"]
    for bad in ({"from": "2026-13"}, {"from": "2026-11", "to": "2026-10"}, {"to": "x"}, {"from": "2020-01"}):
        with pytest.raises(InvalidInput):
            satisfaction.parse_months(bad)


async def test_two_operators_writing_down_the_same_phone_answer_keep_one(db: Database) -> None:
    async with db.transaction() as s:
        w = await autumn(s)
    survey_id = w.to_call.id
    me = desk(w.mapo)

    def write(score: int) -> Any:
        async def step(s: AsyncSession) -> Any:
            return await satisfaction.record_phone_answer(s, access=me, survey_id=survey_id, score=score, comment=None)  # type: ignore[arg-type]

        return step

    outcome = await race(db, write(5), Pause(first_write_or_lock), write(1))
    results = [outcome.paused, outcome.meanwhile]
    assert sum(isinstance(r, Survey) for r in results) == 1, results
    assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    async with db.sessions() as s:
        stored = await s.get(Survey, survey_id)
        assert stored is not None and stored.score == (5 if outcome.first == "paused" else 1)
        logged = (await s.execute(select(func.count()).where(AccessLog.action == "survey_phone_answer"))).scalar_one()
        assert logged == 1
