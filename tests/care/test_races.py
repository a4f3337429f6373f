"""Races where "exactly one wins": two sessions, one stopped inside its service call (tests/storage/pausing.py).

Each test makes the race happen every time: the first session stops between the read it trusts
and its write, the second commits its change, and then the first goes on.

PostgreSQL runs it so. SQLite cannot: `Database.transaction()` begins with BEGIN IMMEDIATE, so the
paused session holds the one write lock from its first statement and the second session waits in
its BEGIN until the first has committed (the pause's patience lets it go on). `race` checks which
order really happened on each engine, and each test asserts the one outcome that order allows:
exactly one of the two wins on both engines, never both, never neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import chasers, checkins, orders, provider_tasks, queue
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import CapExceeded, ConflictError, InvalidTransition
from storage import orders as store
from storage.db import Database
from storage.models import CheckinSlot, DeskNotice, EntitlementEntry, Order, Outbox, Provider
from tests.factories import DESK, make_district, make_order, make_provider, make_resident
from tests.jobs.helpers import add_family, resident_with_chat, seoul
from tests.storage.pausing import Pause, first_write_or_lock, reading_again_or_first_write, select_from

OTHER_DESK = Actor(kind="operator", id=None, name="이창구", channel="console")


@dataclass
class Raced:
    """What each session returned (or raised) and which of them finished its transaction first."""

    paused: Any
    meanwhile: Any
    first: str  # "meanwhile": it committed inside the paused session's window (PostgreSQL)


async def race(
    db: Database,
    paused: Callable[[AsyncSession], Awaitable[Any]],
    pause: Pause,
    meanwhile: Callable[[AsyncSession], Awaitable[Any]],
) -> Raced:
    """Run `paused` until the pause, run and commit `meanwhile`, let `paused` go on; return both outcomes.

    On SQLite `meanwhile` waits for the paused session's write lock (BEGIN IMMEDIATE): the pause's
    patience runs out, the paused session commits first and `meanwhile` runs after it. That order
    is asserted here, so a test cannot pass on an order its engine did not produce.
    """
    finished: list[str] = []

    async def run(name: str, step: Callable[[AsyncSession], Awaitable[Any]], pause: Pause | None) -> Any:
        try:
            async with db.transaction() as s:
                if pause is not None:
                    await pause.attach(s)
                return await step(s)
        except Exception as exc:  # the loser's error is part of the outcome the test checks
            return exc
        finally:
            finished.append(name)

    task = asyncio.create_task(run("paused", paused, pause))
    reached = asyncio.create_task(pause.reached.wait())
    await asyncio.wait([task, reached], return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    assert pause.happened, f"the first session never reached the pause: {task.result()!r}"
    other = await run("meanwhile", meanwhile, None)
    pause.go.set()
    outcome = Raced(paused=await task, meanwhile=other, first=finished[0])
    assert outcome.first == ("paused" if db.is_sqlite else "meanwhile"), outcome
    return outcome


def desk_access(district_id: int) -> Access:
    """Return the desk operator's access to their district (queue.act checks role and district)."""
    return Access(operator_id=None, username=DESK.name, ip=None, district_id=district_id, role="operator")


async def order_in_progress(s: AsyncSession, *, units: int = 10, place: Any = None, resident: Any = None) -> Order:
    place = place or await make_district(s)
    resident = resident or await make_resident(s, place)
    provider = await make_provider(s, place)
    order = await make_order(s, resident, units=units)
    await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
    await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    await orders.accept(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
    return await orders.start(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]


# ---------------------------------------------------------------- a. completion and the version it saw


@pytest.mark.parametrize("who", ["desk", "provider"])
async def test_a_change_committed_while_a_completion_is_recorded_makes_the_completion_conflict(
    db: Database, who: str
) -> None:
    async with db.transaction() as s:
        order = await order_in_progress(s)
        seen = order.version
        assignment = await store.current_assignment(s, order.id)  # type: ignore[arg-type]
        assert assignment is not None
        provider = await s.get(Provider, assignment.provider_id)
        assert provider is not None

    async def complete(s: AsyncSession) -> Order:
        if who == "desk":
            return await queue.act(
                s,
                access=desk_access(order.district_id),
                order_id=order.id,
                action="complete",
                actor=DESK,
                expected_version=seen,
                units=10,  # type: ignore[arg-type]
            )
        return await provider_tasks.complete(
            s,
            provider_id=provider.id,  # type: ignore[arg-type]
            assignment_id=assignment.id,  # type: ignore[arg-type]
            delivered_units=10,
            note=None,
            actor=provider_tasks.actor_for(provider, channel="telegram"),
        )

    async def note(s: AsyncSession) -> None:
        await queue.add_note(
            s,
            order_id=order.id,
            text="이용자가 입원하셨다고 합니다. 완료 처리 전 확인해 주세요.",
            actor=OTHER_DESK,  # type: ignore[arg-type]
        )

    # The completion has read the order (and checked it); it stops before reading it again or writing.
    # The desk's path reads the order once more first: queue.act's district check.
    reads = 3 if who == "desk" else 2
    outcome = await race(db, complete, Pause(reading_again_or_first_write("orders", reads=reads)), note)

    assert outcome.meanwhile is None, outcome
    async with db.sessions() as s:
        final = await orders.get(s, order_id=order.id)  # type: ignore[arg-type]
        history = [h.action for h in await orders.list_history(s, order_id=order.id)]  # type: ignore[arg-type]
    if outcome.first == "meanwhile":
        # The note came in between: the completion checked a version that is gone, so it conflicts.
        assert isinstance(outcome.paused, ConflictError), outcome
        assert final.status == "in_progress" and final.version == seen + 1
        assert history[-1] == "note"
    else:
        # SQLite: the note waited for the completion's transaction; nothing came in between.
        assert isinstance(outcome.paused, Order) and outcome.paused.version == seen + 1, outcome
        assert final.status == "done" and final.version == seen + 2
        assert history[-2:] == ["complete", "note"]


# ---------------------------------------------------------------- b. the deadline chaser and the desk


@pytest.mark.parametrize("where", ["before reading the order", "before writing the order"])
async def test_the_deadline_chaser_leaves_alone_an_assignment_the_desk_has_just_replaced(
    db: Database, where: str
) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        resident = await make_resident(s, place)
        late, other = await make_provider(s, place), await make_provider(s, place)
        order = await make_order(s, resident)
        await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
        expired = await orders.assign(
            s,
            order_id=order.id,  # type: ignore[arg-type]
            provider_id=late.id,  # type: ignore[arg-type]
            actor=DESK,
            deadline=clock.now() - timedelta(minutes=5),
        )
        assert [expired.id] == await chasers.list_expired_assignment_ids(s)

    async def chase(s: AsyncSession) -> Any:
        return await chasers.expire_assignment(s, assignment_id=expired.id)  # type: ignore[arg-type]

    async def reassign(s: AsyncSession) -> None:
        await orders.reassign(
            s,
            order_id=order.id,
            provider_id=other.id,
            reason="전화로 급히 다른 기관에 맡김",
            actor=DESK,  # type: ignore[arg-type]
        )

    when = select_from("orders") if where == "before reading the order" else first_write_or_lock
    outcome = await race(db, chase, Pause(when), reassign)

    async with db.sessions() as s:
        final = await orders.get(s, order_id=order.id)  # type: ignore[arg-type]
        rows = {a.provider_id: a.status for a in await store.list_assignments(s, order.id)}  # type: ignore[arg-type]
        notices = (await s.execute(select(DeskNotice).where(DeskNotice.kind == "assignment_expired"))).all()
    if outcome.first == "meanwhile":
        # The desk's reassignment wins: the chaser finds the assignment replaced and does nothing.
        assert outcome.paused is None and outcome.meanwhile is None, outcome
        assert final.status == "assigned"
        assert rows == {late.id: "withdrawn", other.id: "pending"}
        assert notices == []
    else:
        # SQLite: the desk waited for the chaser, which returned the order to the desk; the desk's
        # reassignment then meets an order no longer assigned and is refused, not applied on top.
        assert isinstance(outcome.paused, DeskNotice), outcome
        assert isinstance(outcome.meanwhile, InvalidTransition), outcome
        assert final.status == "screening"
        assert rows == {late.id: "expired"}
        assert len(notices) == 1


# ---------------------------------------------------------------- c. the per-person cap


async def test_two_completions_for_one_resident_at_once_cannot_both_pass_the_cap(db: Database) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        resident = await make_resident(s, place)
        first = await order_in_progress(s, units=20, place=place, resident=resident)
        # The ledger refuses the second assignment (tests/care/test_entitlements.py races that); here
        # the first order predates the ledger (no entry), as orders assigned before it do.
        await s.execute(delete(EntitlementEntry))
        second = await order_in_progress(s, units=20, place=place, resident=resident)
        await s.execute(delete(EntitlementEntry))
        cap = (await orders.cap_status(s, order_id=first.id))["cap"]  # type: ignore[arg-type]
        assert cap is not None and 20 < cap < 40  # meals: 30 a person

    both = asyncio.Barrier(2)

    async def complete(order: Order) -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                return await orders.complete(s, order_id=order.id, delivered_units=20, actor=DESK)  # type: ignore[arg-type]
        except Exception as exc:
            return exc

    results = await asyncio.gather(complete(first), complete(second))

    assert sorted(type(r).__name__ for r in results) == ["CapExceeded", "Order"], results
    assert any(isinstance(r, CapExceeded) for r in results)
    async with db.sessions() as s:
        done = (await s.execute(select(Order).where(Order.status == "done"))).scalars().all()
        assert len(done) == 1 and sum(o.delivered_units or 0 for o in done) <= cap


# ---------------------------------------------------------------- d. a check-in answer and escalation


async def _missed_checkin(db: Database) -> tuple[int, int]:
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        resident = await resident_with_chat(s, place, "300")
        await add_family(s, resident, "301")
        await checkins.set_schedule(s, resident_id=resident.id, weekdays=[0], at_minute=600)  # type: ignore[arg-type]
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    clock.set_now(seoul(2026, 11, 23, 12, 1))  # past the missed time: escalation is due
    async with db.sessions() as s:
        slot = (await s.execute(select(CheckinSlot))).scalar_one()
    assert slot.id is not None
    return slot.id, resident.id  # type: ignore[return-value]


async def _family_kinds(db: Database) -> list[str]:
    async with db.sessions() as s:
        rows = await s.execute(select(Outbox.kind).where(Outbox.chat_id == "301").order_by(Outbox.id))
        return list(rows.scalars())


async def _answer(slot_id: int) -> Callable[[AsyncSession], Awaitable[Any]]:
    async def run(s: AsyncSession) -> Any:
        return await checkins.answer(s, slot_id=slot_id, answer="ok", channel="telegram", user_key="300")

    return run


async def test_an_answer_racing_escalation_still_sends_the_family_the_all_clear(db: Database) -> None:
    slot_id, _ = await _missed_checkin(db)

    # The answer has read the slot (nobody alerted yet); escalation alerts the family meanwhile.
    outcome = await race(db, await _answer(slot_id), Pause(first_write_or_lock), checkins.escalate_due)

    assert isinstance(outcome.paused, CheckinSlot), outcome
    async with db.sessions() as s:
        slot = await s.get(CheckinSlot, slot_id)
        assert slot is not None and slot.status == "answered"
    if outcome.first == "meanwhile":
        assert outcome.meanwhile == 1, outcome
        assert await _family_kinds(db) == ["checkin_alert", "checkin_all_clear"]
        assert slot.all_clear_sent
    else:
        # SQLite: escalation waited for the answer and found nothing missed: nobody is alerted.
        assert outcome.meanwhile == 0, outcome
        assert await _family_kinds(db) == []


async def test_escalation_racing_an_answer_alerts_nobody(db: Database) -> None:
    slot_id, _ = await _missed_checkin(db)

    async def escalate(s: AsyncSession) -> int:
        return await checkins.escalate_due(s)

    outcome = await race(db, escalate, Pause(first_write_or_lock), await _answer(slot_id))

    assert isinstance(outcome.meanwhile, CheckinSlot), outcome
    if outcome.first == "meanwhile":
        assert outcome.paused == 0, outcome
        assert await _family_kinds(db) == []
    else:
        # SQLite: the answer waited for the escalation; the family, alerted, then hears all is well.
        assert outcome.paused == 1, outcome
        assert await _family_kinds(db) == ["checkin_alert", "checkin_all_clear"]
    async with db.sessions() as s:
        slot = await s.get(CheckinSlot, slot_id)
        assert slot is not None and slot.status == "answered"


async def test_an_answer_and_escalation_at_the_same_moment_never_leave_an_alert_without_all_clear(
    db: Database,
) -> None:
    slot_id, _ = await _missed_checkin(db)
    both = asyncio.Barrier(2)

    async def run(step: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        async with db.transaction() as s:
            await pause.attach(s)
            return await step(s)

    await asyncio.gather(run(await _answer(slot_id)), run(checkins.escalate_due))

    kinds = await _family_kinds(db)
    assert kinds in ([], ["checkin_alert", "checkin_all_clear"]), kinds
    async with db.sessions() as s:
        slot = await s.get(CheckinSlot, slot_id)
        assert slot is not None and slot.status == "answered"


# ---------------------------------------------------------------- "못 받았어요" tapped twice at once


async def test_two_taps_of_not_received_at_once_open_one_desk_conversation(db: Database) -> None:
    from care import surveys
    from storage.models import DeskMessage, Survey

    clock.set_now(seoul(2026, 11, 23, 15, 0))
    async with db.transaction() as s:
        order = await order_in_progress(s)
        await orders.complete(s, order_id=order.id, delivered_units=order.units, actor=DESK)  # type: ignore[arg-type]
        survey = Survey(order_id=order.id, channel="telegram", chat_id="100", sent_at=clock.now())  # type: ignore[arg-type]
        s.add(survey)
        await s.flush()
        survey_id = survey.id

    async def tap(answer: str) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def step(s: AsyncSession) -> Any:
            return await surveys.answer_received(
                s,
                survey_id=survey_id,  # type: ignore[arg-type]
                received=answer,
                channel="telegram",
                user_key="100",
            )

        return step

    outcome = await race(db, await tap("none"), Pause(first_write_or_lock), await tap("partly"))
    counted = [outcome.paused[1], outcome.meanwhile[1]]
    assert sorted(counted) == [False, True]
    winner = "none" if outcome.first == "paused" else "partly"
    async with db.sessions() as s:
        stored = await s.get(Survey, survey_id)
        assert stored is not None and stored.received == winner
        assert len((await s.execute(select(DeskMessage))).all()) == 1
        flagged = await s.get(Order, order.id)
        assert flagged is not None and flagged.completion_disputed_at is not None
