"""The inbox's rules (care.inbox) with a controllable clock: snooze, first-answer time, auto-assignment, races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import auth, inbox, intake
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from storage.db import Database
from storage.models import DeskMessage, DeskThread, InboxSetting, Operator, OperatorSession, Outbox
from tests.care.test_races import race
from tests.factories import make_district, make_order, make_resident
from tests.storage.pausing import Pause

# Tuesday 1 December 2026, 10:00 in Seoul (01:00 UTC): office hours.
TUESDAY_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def access_of(op: Operator) -> Access:
    return Access(operator_id=op.id, username=op.username, ip="127.0.0.1", district_id=op.district_id, role=op.role)


async def operator(s: AsyncSession, district_id: int, name: str, *, signed_in: bool = True) -> Operator:
    op = Operator(username=name, password_hash="x", role="operator", district_id=district_id)
    s.add(op)
    await s.flush()
    if signed_in:
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(auth.new_token()),
                operator_id=op.id,  # type: ignore[arg-type]
                csrf_token="t",
                created_at=now,
                last_seen_at=now,
            )
        )
        await s.flush()
    return op


async def talk(s: AsyncSession, district_id: int, chat: str, text: str = "상담원과 이야기하고 싶어요") -> DeskThread:
    return await intake.post_to_desk(s, channel="telegram", user_key=chat, text=text, district_id=district_id)


@pytest.fixture(autouse=True)
def tuesday_morning() -> Any:
    clock.set_now(TUESDAY_10)
    yield
    clock.set_now(None)


async def test_a_snoozed_conversation_reopens_when_its_time_comes(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    thread = await talk(session, place.district.id, "100")  # type: ignore[arg-type]
    await inbox.set_status(
        session,
        access=access_of(op),
        thread_id=thread.id,  # type: ignore[arg-type]
        status=inbox.SNOOZED,
        expected_version=thread.version,
        until=clock.now() + timedelta(hours=2),
    )
    page = await inbox.list_threads(session, access=access_of(op), status="open")
    assert page.rows == [] and page.counts["snoozed"] == 1
    clock.advance(timedelta(hours=2, minutes=1))
    page = await inbox.list_threads(session, access=access_of(op), status="open")
    assert [r.thread.id for r in page.rows] == [thread.id]
    assert page.rows[0].thread.snoozed_until is None


async def test_a_snoozed_or_held_conversation_reopens_when_the_person_writes(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    thread = await talk(session, place.district.id, "100")  # type: ignore[arg-type]
    for status, until in ((inbox.SNOOZED, clock.now() + timedelta(days=3)), (inbox.PENDING, None)):
        await inbox.set_status(
            session,
            access=access_of(op),
            thread_id=thread.id,  # type: ignore[arg-type]
            status=status,
            expected_version=thread.version,
            until=until,
        )
        again = await talk(session, place.district.id, "100", "아직 답이 없어요")  # type: ignore[arg-type]
        assert again.id == thread.id and again.status == inbox.OPEN
        await session.refresh(thread)


async def test_a_snooze_in_the_past_is_refused_kindly(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    thread = await talk(session, place.district.id, "100")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await inbox.set_status(
            session,
            access=access_of(op),
            thread_id=thread.id,  # type: ignore[arg-type]
            status=inbox.SNOOZED,
            expected_version=thread.version,
            until=clock.now() - timedelta(minutes=1),
        )


async def test_a_conversation_unanswered_past_30_office_minutes_is_overdue_and_counted(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await operator(session, place.district.id, "kim", signed_in=False)  # type: ignore[arg-type]
    await talk(session, place.district.id, "100")  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=29))
    assert (await inbox.counts(session, access=access_of(op)))["overdue"] == 0
    clock.advance(timedelta(minutes=2))
    figures = await inbox.counts(session, access=access_of(op))
    assert figures["overdue"] == 1 and figures["unread"] == 1
    page = await inbox.list_threads(session, access=access_of(op))
    assert page.rows[0].overdue and page.overdue == 1
    # The first answer ends it.
    await inbox.reply(session, access=access_of(op), thread_id=page.rows[0].thread.id, text="네, 말씀하세요")  # type: ignore[arg-type]
    assert (await inbox.counts(session, access=access_of(op)))["overdue"] == 0


async def test_the_answer_time_counts_office_hours_only_skipping_the_weekend_and_holidays() -> None:
    setting = InboxSetting(district_id=1, first_answer_minutes=30)
    # Friday 24 Dec 2027 17:50 Seoul: 10 minutes that day; the weekend is off, and Christmas on a
    # Saturday gives Monday 27 Dec as a substitute holiday (대체공휴일): Tuesday 28 Dec at 09:20 is due.
    friday = datetime(2027, 12, 24, 17, 50, tzinfo=clock.zone())
    due = inbox.add_office_minutes(friday, 30, setting=setting).astimezone(clock.zone())
    assert (due.date().isoformat(), due.hour, due.minute) == ("2027-12-28", 9, 20)
    # 삼일절 (1 March 2027, Monday) is a public holiday: a message on Sunday night is due Tuesday 09:30.
    sunday = datetime(2027, 2, 28, 22, 0, tzinfo=clock.zone())
    due = inbox.add_office_minutes(sunday, 30, setting=setting).astimezone(clock.zone())
    assert (due.date().isoformat(), due.hour, due.minute) == ("2027-03-02", 9, 30)
    # The admin's own time and hours are used.
    short = InboxSetting(district_id=1, first_answer_minutes=10, office_start_minute=8 * 60, office_end_minute=20 * 60)
    evening = datetime(2027, 3, 2, 19, 55, tzinfo=clock.zone())
    due = inbox.add_office_minutes(evening, 10, setting=short).astimezone(clock.zone())
    assert (due.date().isoformat(), due.hour, due.minute) == ("2027-03-03", 8, 5)


async def test_new_conversations_go_round_robin_to_signed_in_operators_under_their_limit(
    session: AsyncSession,
) -> None:
    place = await make_district(session)
    district_id: int = place.district.id  # type: ignore[assignment]
    session.add(InboxSetting(district_id=district_id, assign_limit=2))
    kim = await operator(session, district_id, "kim")
    lee = await operator(session, district_id, "lee")
    await operator(session, district_id, "park", signed_in=False)  # not signed in: never chosen
    assignees = []
    for n in range(5):
        clock.advance(timedelta(seconds=1))
        thread = await talk(session, district_id, f"chat-{n}")
        assignees.append(thread.assignee_id)
    assert assignees == [kim.id, lee.id, kim.id, lee.id, None]  # the fifth: both are at their limit of 2
    notes = (await session.execute(select(func.count()).where(DeskMessage.direction == "note"))).scalar_one()
    assert notes == 4
    # A session gone idle (past the idle time) is not "signed in now".
    clock.advance(timedelta(hours=2))
    resolved = (await session.execute(select(DeskThread).where(DeskThread.assignee_id == kim.id))).scalars().first()
    assert resolved is not None
    await inbox.set_status(
        session,
        access=access_of(kim),
        thread_id=resolved.id,  # type: ignore[arg-type]
        status=inbox.RESOLVED,
        expected_version=resolved.version,
    )
    late = await talk(session, district_id, "chat-late")
    assert late.assignee_id is None


async def test_only_the_assignee_replies_until_someone_takes_over_with_a_note(session: AsyncSession) -> None:
    place = await make_district(session)
    district_id: int = place.district.id  # type: ignore[assignment]
    kim = await operator(session, district_id, "kim")
    thread = await talk(session, district_id, "100")
    assert thread.assignee_id == kim.id
    lee = await operator(session, district_id, "lee")
    with pytest.raises(PermissionDenied):
        await inbox.reply(session, access=access_of(lee), thread_id=thread.id, text="제가 답할게요")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await inbox.take_over(
            session,
            access=access_of(lee),
            thread_id=thread.id,  # type: ignore[arg-type]
            note=" ",
            expected_version=thread.version,
        )
    await inbox.take_over(
        session,
        access=access_of(lee),
        thread_id=thread.id,  # type: ignore[arg-type]
        note="김 주무관 휴가",
        expected_version=thread.version,
    )
    await inbox.reply(session, access=access_of(lee), thread_id=thread.id, text="제가 답할게요")  # type: ignore[arg-type]
    view = await inbox.get(session, access=access_of(kim), thread_id=thread.id)  # type: ignore[arg-type]
    notes = [m.text for m, _ in view.messages if m.direction == "note"]
    assert any("김 주무관 휴가" in n and "lee" in n for n in notes)
    assert not view.can_reply


async def test_another_districts_staff_cannot_see_or_touch_a_conversation(session: AsyncSession) -> None:
    a = await make_district(session, name="마포구")
    b = await make_district(session, name="은평구")
    thread = await talk(session, a.district.id, "100")  # type: ignore[arg-type]
    other = await operator(session, b.district.id, "eunpyeong")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await inbox.get(session, access=access_of(other), thread_id=thread.id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await inbox.reply(session, access=access_of(other), thread_id=thread.id, text="안녕하세요")  # type: ignore[arg-type]
    assert (await inbox.list_threads(session, access=access_of(other))).rows == []


async def test_resolving_asks_the_person_once_and_only_their_chat_may_answer(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    thread = await talk(session, place.district.id, "100")  # type: ignore[arg-type]
    for _ in range(2):
        await inbox.set_status(
            session,
            access=access_of(op),
            thread_id=thread.id,  # type: ignore[arg-type]
            status=inbox.RESOLVED,
            expected_version=thread.version,
        )
        await session.refresh(thread)
        await inbox.set_status(
            session,
            access=access_of(op),
            thread_id=thread.id,  # type: ignore[arg-type]
            status=inbox.OPEN,
            expected_version=thread.version,
        )
        await session.refresh(thread)
    asked = list((await session.execute(select(Outbox).where(Outbox.kind == "desk_rating"))).scalars())
    assert len(asked) == 1 and asked[0].chat_id == "100"
    assert [b["data"] for b in asked[0].buttons[0]] == [f"dr:{thread.id}:{n}" for n in range(1, 6)]  # type: ignore[index]
    with pytest.raises(PermissionDenied):
        await inbox.rate(session, thread_id=thread.id, score=5, channel="telegram", user_key="999")  # type: ignore[arg-type]
    rated = await inbox.rate(session, thread_id=thread.id, score=4, channel="telegram", user_key="100")  # type: ignore[arg-type]
    assert rated.rating == 4


async def test_a_canned_reply_is_typed_as_slash_and_its_code(session: AsyncSession) -> None:
    place = await make_district(session)
    district_id: int = place.district.id  # type: ignore[assignment]
    admin = Operator(username="boss", password_hash="x", role="admin", district_id=district_id)
    session.add(admin)
    await session.flush()
    await inbox.save_canned(
        session, access=access_of(admin), district_id=district_id, code="call", text="곧 전화 드릴게요."
    )
    thread = await talk(session, district_id, "100")
    sent = await inbox.reply(session, access=access_of(admin), thread_id=thread.id, text="/call 오후 2시쯤요.")  # type: ignore[arg-type]
    assert sent.text == "곧 전화 드릴게요. 오후 2시쯤요."
    row = (await session.execute(select(Outbox).where(Outbox.kind == "desk_reply"))).scalar_one()
    assert (row.chat_id, row.text, row.district_id) == ("100", "곧 전화 드릴게요. 오후 2시쯤요.", district_id)
    # An unknown code is sent as typed; a note never reaches the outbox.
    await inbox.add_note(session, access=access_of(admin), thread_id=thread.id, text="보호자 번호 확인 필요")  # type: ignore[arg-type]
    assert (await session.execute(select(func.count()).where(Outbox.kind == "desk_reply"))).scalar_one() == 1


async def test_a_question_about_an_order_is_one_thread_per_order_and_shows_for_that_order(
    session: AsyncSession,
) -> None:
    place = await make_district(session)
    resident = await make_resident(session, place)
    first, second = await make_order(session, resident), await make_order(session, resident)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    for order in (first, second, first):
        await intake.post_to_desk(
            session,
            channel="telegram",
            user_key="cm-1",
            text="확인 부탁드려요",
            reason="order_question",
            order_id=order.id,
        )
    rows = await inbox.list_for_order(session, access=access_of(op), order_id=first.id)  # type: ignore[arg-type]
    assert len(rows) == 1 and rows[0].thread.resident_id == resident.id
    assert inbox.reason_label("service_not_received") != "service_not_received"


async def _two_operators_and_a_thread(db: Database) -> tuple[Operator, Operator, DeskThread]:
    async with db.transaction() as s:
        place = await make_district(s)
        district_id: int = place.district.id  # type: ignore[assignment]
        kim = await operator(s, district_id, "kim", signed_in=False)
        lee = await operator(s, district_id, "lee", signed_in=False)
        thread = await talk(s, district_id, "100")
    return kim, lee, thread


async def test_two_operators_taking_over_the_same_version_one_wins(db: Database) -> None:
    kim, lee, thread = await _two_operators_and_a_thread(db)

    def take(op: Operator) -> Any:
        async def step(s: AsyncSession) -> DeskThread:
            return await inbox.take_over(
                s,
                access=access_of(op),
                thread_id=thread.id,
                note="제가 맡을게요",
                expected_version=thread.version,  # type: ignore[arg-type]
            )

        return step

    outcome = await race(db, take(kim), Pause(), take(lee))
    results = [outcome.paused, outcome.meanwhile]
    assert sum(isinstance(r, ConflictError) for r in results) == 1, outcome
    winner = kim if isinstance(outcome.meanwhile, ConflictError) else lee
    async with db.sessions() as s:
        final = await s.get(DeskThread, thread.id)
        assert final is not None and final.assignee_id == winner.id and final.version == thread.version + 1
        notes = (await s.execute(select(func.count()).where(DeskMessage.direction == "note"))).scalar_one()
        assert notes == 1


async def test_assigning_while_another_takes_over_one_wins(db: Database) -> None:
    kim, lee, thread = await _two_operators_and_a_thread(db)

    async def assign(s: AsyncSession) -> DeskThread:
        return await inbox.assign(
            s,
            access=access_of(kim),
            thread_id=thread.id,
            operator_id=kim.id,
            expected_version=thread.version,  # type: ignore[arg-type]
        )

    async def take(s: AsyncSession) -> DeskThread:
        return await inbox.take_over(
            s,
            access=access_of(lee),
            thread_id=thread.id,
            note="급한 건이라 제가",
            expected_version=thread.version,  # type: ignore[arg-type]
        )

    outcome = await race(db, assign, Pause(), take)
    assert sum(isinstance(r, ConflictError) for r in (outcome.paused, outcome.meanwhile)) == 1, outcome


async def test_an_answer_to_a_web_chat_conversation_is_offered_to_that_web_chat(session: AsyncSession) -> None:
    from storage import conversations

    place = await make_district(session)
    op = await operator(session, place.district.id, "kim")  # type: ignore[arg-type]
    thread = await intake.post_to_desk(
        session, channel="webchat", user_key="op7", text="웹에서 문의드려요", district_id=place.district.id
    )
    await inbox.reply(session, access=access_of(op), thread_id=thread.id, text="네, 답변 드릴게요")  # type: ignore[arg-type]
    offered = await conversations.take_outbox(session, channel="webchat", chat_id="op7")
    assert [r.text for r in offered] == ["네, 답변 드릴게요"]
