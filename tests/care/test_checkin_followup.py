"""The desk's follow-up of a missed check-in, the list of people who keep missing them, and two times a day."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import checkins
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import gettext
from storage.db import Database
from storage.models import AccessLog, CheckinSlot, Operator, Outbox, ResidentChannel
from tests.factories import make_district, make_resident
from tests.jobs.helpers import add_care_manager, add_family, outbox_to, resident_with_chat, seoul
from tests.storage.pausing import Pause, first_write_or_lock


async def _operator(s: AsyncSession, district_id: int | None, name: str, role: str = "operator") -> Access:
    op = Operator(username=name, display_name=f"{name}님", password_hash="x", role=role, district_id=district_id)
    s.add(op)
    await s.flush()
    return Access(operator_id=op.id, username=name, ip="127.0.0.1", district_id=district_id, role=role)


async def _escalated(db: Database) -> dict[str, Any]:
    """A Monday 10:00 check-in nobody answered; the daughter (301) and the dong's care manager (401) were alerted."""
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        other = await make_district(s, name="은평구")
        resident = await resident_with_chat(s, place, "300", name="정복녀")
        await add_family(s, resident, "301")
        await add_care_manager(s, place, "401")
        await checkins.set_schedule(s, resident_id=resident.id, weekdays=[0], at_minute=600)  # type: ignore[arg-type]
        kim = await _operator(s, place.district_id, "kim")
        lee = await _operator(s, place.district_id, "lee")
        viewer = await _operator(s, place.district_id, "view", role="viewer")
        stranger = await _operator(s, other.district_id, "park")
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    clock.set_now(seoul(2026, 11, 23, 12, 1))
    async with db.transaction() as s:
        assert await checkins.escalate_due(s) == 1
    async with db.sessions() as s:
        slot = (await s.execute(select(CheckinSlot))).scalar_one()
        assert slot.status == "escalated" and len(slot.alerted or []) == 2
    return {"slot": slot.id, "resident": resident.id, "kim": kim, "lee": lee, "viewer": viewer, "stranger": stranger}


async def _kinds(db: Database, chat_id: str) -> list[str]:
    async with db.sessions() as s:
        return [row.kind for row in await outbox_to(s, chat_id)]


async def test_called_and_fine_sends_the_all_clear_to_everyone_alerted_and_shows_who_did_it(db: Database) -> None:
    w = await _escalated(db)
    clock.set_now(seoul(2026, 11, 23, 12, 20))
    async with db.transaction() as s:
        slot = await checkins.follow_up(
            s, slot_id=w["slot"], access=w["kim"], outcome="called_ok", note="통화함. 병원 다녀오셨대요"
        )
        assert slot.all_clear_sent

    assert await _kinds(db, "301") == ["checkin_alert", "checkin_all_clear"]
    assert await _kinds(db, "401") == ["checkin_alert", "checkin_all_clear"]
    async with db.sessions() as s:
        clear = (await outbox_to(s, "301"))[-1]
        assert clear.text == gettext(checkins.ALL_CLEAR_BY_DESK, None, name="정복녀")
        assert clear.resident_id == w["resident"]
        board = await checkins.list_today(s, day=seoul(2026, 11, 23, 0, 0).date())
        row = board[0]
        assert row.slot.followup == "called_ok" and row.slot.followup_note == "통화함. 병원 다녀오셨대요"
        assert row.followup_by_name == "kim님" and row.slot.followup_at == seoul(2026, 11, 23, 12, 20)
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "checkin_followup"))).scalar_one()
        assert logged.resident_id == w["resident"] and logged.detail == "called_ok" and logged.username == "kim"


@pytest.mark.parametrize("outcome", ["visit", "emergency"])
async def test_a_follow_up_that_did_not_reach_the_person_sends_no_all_clear(db: Database, outcome: str) -> None:
    w = await _escalated(db)
    async with db.transaction() as s:
        slot = await checkins.follow_up(s, slot_id=w["slot"], access=w["kim"], outcome=outcome)
        assert slot.followup == outcome and not slot.all_clear_sent and slot.followup_note is None
    assert await _kinds(db, "301") == ["checkin_alert"]


async def test_family_confirmed_also_tells_the_care_manager_all_is_well(db: Database) -> None:
    w = await _escalated(db)
    async with db.transaction() as s:
        await checkins.follow_up(s, slot_id=w["slot"], access=w["kim"], outcome="family_ok")
    assert await _kinds(db, "401") == ["checkin_alert", "checkin_all_clear"]


async def test_viewers_other_districts_and_unknown_outcomes_record_nothing(db: Database) -> None:
    w = await _escalated(db)
    async with db.transaction() as s:
        with pytest.raises(PermissionDenied):
            await checkins.follow_up(s, slot_id=w["slot"], access=w["viewer"], outcome="called_ok")
        with pytest.raises(NotFound):
            await checkins.follow_up(s, slot_id=w["slot"], access=w["stranger"], outcome="called_ok")
        with pytest.raises(InvalidInput):
            await checkins.follow_up(s, slot_id=w["slot"], access=w["kim"], outcome="fine I guess")
        with pytest.raises(NotFound):
            await checkins.follow_up(s, slot_id=999_999, access=w["kim"], outcome="called_ok")
    async with db.sessions() as s:
        slot = await s.get(CheckinSlot, w["slot"])
        assert slot is not None and slot.followup is None
    assert await _kinds(db, "301") == ["checkin_alert"]


async def test_an_answered_check_in_needs_no_follow_up(db: Database) -> None:
    w = await _escalated(db)
    async with db.transaction() as s:
        await checkins.answer(s, slot_id=w["slot"], answer="ok", channel="telegram", user_key="300")
    async with db.transaction() as s:
        with pytest.raises(InvalidInput):
            await checkins.follow_up(s, slot_id=w["slot"], access=w["kim"], outcome="called_ok")


async def test_two_operators_following_up_at_once_one_wins_and_the_other_is_told_who(db: Database) -> None:
    w = await _escalated(db)
    both = asyncio.Barrier(2)

    async def record(access: Access, outcome: str) -> Any:
        pause = Pause(first_write_or_lock, barrier=both)
        try:
            async with db.transaction() as s:
                await pause.attach(s)
                return await checkins.follow_up(s, slot_id=w["slot"], access=access, outcome=outcome)
        except Exception as exc:  # the loser's error is the outcome under test
            return exc

    results = await asyncio.gather(record(w["kim"], "called_ok"), record(w["lee"], "visit"))

    won = [r for r in results if isinstance(r, CheckinSlot)]
    lost = [r for r in results if isinstance(r, ConflictError)]
    assert len(won) == 1 and len(lost) == 1, results
    async with db.sessions() as s:
        slot = await s.get(CheckinSlot, w["slot"])
        assert slot is not None
        winner = "kim님" if slot.followup == "called_ok" else "lee님"
        assert slot.followup_by == (w["kim"] if slot.followup == "called_ok" else w["lee"]).operator_id
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "checkin_followup"))).scalars().all()
        assert len(logged) == 1
    # The kind message names who was quicker and what they recorded.
    assert lost[0].params["who"] == winner
    assert lost[0].params["what"] == gettext(checkins.FOLLOWUPS[slot.followup or ""])
    # The all-clear went at most once.
    assert (await _kinds(db, "301")).count("checkin_all_clear") == (1 if slot.followup == "called_ok" else 0)


# ---------------------------------------------------------------- the attention list


async def _slot(s: AsyncSession, resident_id: int, day: int, status: str, answer: str | None = None) -> None:
    s.add(
        CheckinSlot(
            resident_id=resident_id,
            scheduled_at=seoul(2026, 11, day, 10, 0),
            status=status,
            answer=answer,
        )
    )


async def test_the_attention_list_has_two_missed_in_a_row_and_unreachable_chats_of_the_own_district_only(
    db: Database,
) -> None:
    clock.set_now(seoul(2026, 11, 25, 15, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        other = await make_district(s, name="은평구")
        twice = await make_resident(s, place, name="두번")
        thrice = await make_resident(s, place, name="세번")
        once = await make_resident(s, place, name="한번")
        answered_last = await make_resident(s, place, name="어제답함")
        blocked = await resident_with_chat(s, place, "500", name="차단")
        blocked_but_other_chat = await resident_with_chat(s, place, "501", name="다른채팅")
        s.add(
            ResidentChannel(
                resident_id=blocked_but_other_chat.id,  # type: ignore[arg-type]
                channel="web",
                user_key="w-501",
                verified_at=clock.now(),
                verified_how="desk",
            )
        )
        elsewhere = await make_resident(s, other, name="다른구")
        for r, statuses in (
            (twice, ["answered", "missed", "escalated"]),
            (thrice, ["unreachable", "missed", "escalated"]),
            (once, ["missed", "answered", "missed"]),
            (answered_last, ["missed", "missed", "answered"]),
            (elsewhere, ["missed", "missed", "missed"]),
        ):
            for day, status in zip((23, 24, 25), statuses, strict=True):
                await _slot(s, r.id, day, status, "ok" if status == "answered" else None)  # type: ignore[arg-type]
        # Today's still-open check-in neither breaks nor adds to a streak.
        s.add(CheckinSlot(resident_id=twice.id, scheduled_at=seoul(2026, 11, 25, 14, 0), status="sent"))  # type: ignore[arg-type]
        access = await _operator(s, place.district_id, "kim")
    async with db.transaction() as s:
        from care import intake

        await intake.set_reachable(s, channel="telegram", user_key="500", reachable=False)
        await intake.set_reachable(s, channel="telegram", user_key="501", reachable=False)
    async with db.transaction() as s:
        missed, unreachable = await checkins.list_attention(s, access=access)

    assert [(r.name, r.missed_in_a_row) for r in missed] == [("세번", 3), ("두번", 2)]
    assert missed[0].last_missed_at == seoul(2026, 11, 25, 10, 0)
    assert [r.name for r in unreachable] == ["차단"]
    async with db.sessions() as s:
        row = (await s.execute(select(AccessLog).where(AccessLog.action == "view_checkin_attention"))).scalar_one()
        assert set(row.resident_ids or []) == {twice.id, thrice.id, blocked.id}


# ---------------------------------------------------------------- two times a day, the night check


async def test_a_second_time_a_day_asks_twice_and_the_night_one_is_the_night_safety_check(db: Database) -> None:
    clock.set_now(seoul(2026, 11, 23, 8, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        r = await resident_with_chat(s, place, "600")
        await checkins.set_schedule(
            s,
            resident_id=r.id,  # type: ignore[arg-type]
            weekdays=list(range(7)),
            at_minute=600,
            second_minute=checkins.NIGHT_FROM,
        )
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 0  # the morning one is made once
    clock.set_now(seoul(2026, 11, 23, 21, 0))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 0
    async with db.sessions() as s:
        slots = (await s.execute(select(CheckinSlot).order_by(CheckinSlot.scheduled_at))).scalars().all()
        assert [x.scheduled_at for x in slots] == [seoul(2026, 11, 23, 10, 0), seoul(2026, 11, 23, 21, 0)]
        texts = [o.text for o in (await s.execute(select(Outbox).order_by(Outbox.id))).scalars()]
        assert texts == [gettext(checkins.ASK, "ko"), gettext(checkins.ASK_NIGHT, "ko")]


async def test_a_second_time_equal_to_the_first_is_refused_kindly(session: AsyncSession) -> None:
    place = await make_district(session)
    r = await make_resident(session, place)
    with pytest.raises(InvalidInput):
        await checkins.set_schedule(session, resident_id=r.id, weekdays=[0], at_minute=600, second_minute=600)  # type: ignore[arg-type]


async def test_the_schedule_reads_in_words(session: AsyncSession) -> None:
    place = await make_district(session)
    r = await make_resident(session, place)
    s = await checkins.set_schedule(session, resident_id=r.id, weekdays=[4, 0, 2], at_minute=600)  # type: ignore[arg-type]
    assert checkins.describe(s, "ko") == "월·수·금 오전 10시"
    s = await checkins.set_schedule(
        session,
        resident_id=r.id,  # type: ignore[arg-type]
        weekdays=list(range(7)),
        at_minute=14 * 60 + 30,
        second_minute=21 * 60,
    )
    assert checkins.describe(s, "ko") == "매일 오후 2시 30분, 밤 9시"
    assert checkins.time_in_words(0, "ko") == "오전 12시"
    assert checkins.time_in_words(12 * 60, "ko") == "오후 12시"


async def test_a_resident_chooses_the_night_check_from_the_bot_and_keeps_the_days(db: Database) -> None:
    clock.set_now(seoul(2026, 11, 23, 8, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        r = await resident_with_chat(s, place, "700")
        await checkins.set_schedule(s, resident_id=r.id, weekdays=[0, 2, 4], at_minute=540, alert_family=False)  # type: ignore[arg-type]
        stranger = await make_resident(s, place)
        s.add(ResidentChannel(resident_id=stranger.id, channel="telegram", user_key="701"))  # type: ignore[arg-type]
    async with db.transaction() as s:
        schedule = await checkins.choose_own_times(s, channel="telegram", user_key="700", choice="night")
        assert (schedule.weekdays, schedule.at_minute, schedule.second_minute) == ([0, 2, 4], 600, 21 * 60)
        assert schedule.alert_family is False
        with pytest.raises(NotFound):  # a claim that is not verified changes nobody's schedule
            await checkins.choose_own_times(s, channel="telegram", user_key="701", choice="night")
        with pytest.raises(InvalidInput):
            await checkins.choose_own_times(s, channel="telegram", user_key="700", choice="every hour")


async def test_a_night_check_never_sent_is_recorded_missed_the_next_day_beside_the_morning_one_that_was(
    db: Database,
) -> None:
    clock.set_now(seoul(2026, 11, 23, 8, 0))
    async with db.transaction() as s:
        place = await make_district(s)
        r = await resident_with_chat(s, place, "800")
        await checkins.set_schedule(
            s,
            resident_id=r.id,  # type: ignore[arg-type]
            weekdays=list(range(7)),
            at_minute=600,
            second_minute=checkins.NIGHT_FROM,
        )
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1  # the morning one; the jobs are down at night
    clock.set_now(seoul(2026, 11, 24, 0, 5))
    async with db.transaction() as s:
        assert await checkins.record_not_sent(s) == 1
    async with db.transaction() as s:
        assert await checkins.record_not_sent(s) == 0  # once
    async with db.sessions() as s:
        slots = (await s.execute(select(CheckinSlot).order_by(CheckinSlot.scheduled_at))).scalars().all()
        assert [(x.scheduled_at, x.status) for x in slots] == [
            (seoul(2026, 11, 23, 10, 0), "sent"),
            (seoul(2026, 11, 23, 21, 0), "missed"),
        ]
