"""The inbox (decision 0006): nothing Telegram handed over is lost or handled twice, on both engines.

Crashes are played by a worker that stops at the worst moment (after the commit, before the
send; after storing, before handling) and a new process (new engine, Bot, Dispatcher and Inbox)
that starts on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import DeleteMessage, SendMessage
from sqlalchemy import func, select, text, update
from sqlmodel import col

from bot import callbacks, core, telegram
from bot.messages import Incoming, Reply
from dolbom import clock
from dolbom.i18n import gettext
from storage import conversations, inbound
from storage.db import Database
from storage.models import Conversation, Inbound
from tests.bot.harness import Person
from tests.conftest import pg_url
from tests.factories import Place

MENU = "무엇을 도와 드릴까요?"


@callbacks.register("seq")
async def _numbered(session: object, incoming: Incoming, payload: str) -> list[Reply]:
    # Each press appends its number to the person's state: the state shows the order they were applied in.
    ctx = core.current()
    assert ctx is not None
    ctx.state.setdefault("seq", []).append(int(payload))
    return [Reply(text=f"seq {payload}")]


async def _rows(db: Database) -> list[Inbound]:
    async with db.sessions() as s:
        return list((await s.execute(select(Inbound).order_by(col(Inbound.update_id)))).scalars())


async def _run_until(inbox: telegram.Inbox, done: Callable[[], Awaitable[bool]], limit: float = 20.0) -> None:
    """Run the inbox worker as `dolbom serve` does until done() holds."""
    stop = asyncio.Event()
    worker = asyncio.create_task(inbox.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + limit
        while not await done():
            assert asyncio.get_running_loop().time() < deadline, "the worker did not finish in time"
            assert not worker.done(), worker
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker


def _texts(p: Person) -> list[str]:
    return [m.text for m in p.sent()]


# ---------------------------------------------------------------- savepoints behave as on PostgreSQL


async def test_a_rolled_back_savepoint_undoes_only_its_own_work(db: Database, place: Place) -> None:
    p = Person(db)
    await p.deliver(p.update(message=p.message(text="/start")))
    row_id = (await _rows(db))[0].id
    async with db.transaction() as s:
        await s.execute(update(Inbound).values(kind="kept"))
        with pytest.raises(RuntimeError):
            async with s.begin_nested():
                assert await inbound.mark_handled(s, row_id=row_id)  # type: ignore[arg-type]
                raise RuntimeError("after the mark")
    (row,) = await _rows(db)
    assert (row.status, row.handled_at, row.kind) == ("pending", None, "kept")


async def test_an_exception_after_the_update_is_marked_handled_leaves_no_mark_and_it_is_tried_again(
    db: Database, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = person
    real_save = conversations.save

    async def broken_save(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the database went away after the mark")

    monkeypatch.setattr(conversations, "save", broken_save)
    await p.say("/start")
    (row,) = await _rows(db)
    assert (row.status, row.handled_at, row.attempts, row.answer) == ("pending", None, 1, None)
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Conversation))).scalar_one() == 0
    assert p.sent() == []

    monkeypatch.setattr(conversations, "save", real_save)
    clock.set_now(clock.now() + inbound.backoff(1) + timedelta(seconds=1))
    await p.inbox.drain()
    assert [t for t in _texts(p) if MENU in t] == [_texts(p)[-1]]  # the menu, once
    (row,) = await _rows(db)
    assert (row.status, row.payload, row.answer) == ("answered", None, None)


# ---------------------------------------------------------------- conversation version conflicts


def _conflicting_save(times: int) -> tuple[Callable[..., Awaitable[int]], list[int]]:
    """A save that finds the conversation changed by someone else the first `times` calls."""
    real_save = conversations.save
    calls: list[int] = []

    async def save(session: Any, *, conversation: Conversation, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) <= times:
            # Another instance saved this person's conversation since we loaded it.
            await session.execute(
                update(Conversation)
                .where(col(Conversation.id) == conversation.id)
                .values(version=Conversation.version + 1)
                .execution_options(synchronize_session=False)
            )
        return await real_save(session, conversation=conversation, **kwargs)

    return save, calls


async def test_a_conversation_changed_meanwhile_is_applied_again_and_the_person_gets_the_answer(
    db: Database, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    save, calls = _conflicting_save(times=1)
    monkeypatch.setattr(conversations, "save", save)
    await person.say("/start")
    assert len(calls) == 2
    assert MENU in person.last.text and len(person.sent()) == 1
    async with db.sessions() as s:
        state = (await s.execute(select(Conversation))).scalar_one().state
    assert (state["flow"], state["step"]) == ("home", "menu")
    assert [r.status for r in await _rows(db)] == ["answered"]


async def test_a_conversation_that_keeps_changing_gets_the_busy_answer_once_and_is_not_retried(
    db: Database, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    save, calls = _conflicting_save(times=99)
    monkeypatch.setattr(conversations, "save", save)
    await person.say("/start")
    assert len(calls) == 2
    assert _texts(person) == [gettext(core.MSG_BUSY, "ko")]
    (row,) = await _rows(db)
    assert (row.status, row.attempts) == ("answered", 0)


async def test_the_web_chat_gets_the_busy_answer_after_two_conflicts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    save, calls = _conflicting_save(times=99)
    monkeypatch.setattr(conversations, "save", save)
    replies = await core.handle(db, Incoming(channel="webchat", user_key="op-1", kind="command", text="/start"))
    assert replies is not None and [r.text for r in replies] == [gettext(core.MSG_BUSY, None)]
    assert len(calls) == 2


# ---------------------------------------------------------------- crashes


async def test_answers_committed_but_not_sent_before_a_crash_are_sent_once_on_start(
    db: Database, db_url: str, person: Person
) -> None:
    p = person
    await p.deliver(p.update(message=p.message(text="/start")))
    assert await p.inbox.handle_next() is not None
    for task in list(p.inbox._tasks):  # the process dies after the commit, before the send
        task.cancel()
    await asyncio.gather(*p.inbox._tasks, return_exceptions=True)
    assert p.sent() == []
    assert [r.status for r in await _rows(db)] == ["handled"]

    fresh = Database(db_url)
    try:
        p.restart(fresh)
        clock.set_now(clock.now() + inbound.ANSWER_LEASE + timedelta(seconds=1))  # PostgreSQL waits out the lease

        async def answered() -> bool:
            return [r.status for r in await _rows(fresh)] == ["answered"]

        await _run_until(p.inbox, answered)
        await asyncio.sleep(0.3)  # a second sweep must not send it again
    finally:
        await fresh.dispose()
    assert len([t for t in _texts(p) if MENU in t]) == 1


async def test_updates_stored_but_not_handled_before_a_crash_are_handled_on_start_in_order(
    db: Database, db_url: str, person: Person
) -> None:
    p = person
    await p.deliver(*(p.update(callback_query=p.callback_update(f"seq:{k}").callback_query) for k in range(4)))
    fresh = Database(db_url)
    try:
        p.restart(fresh)

        async def all_answered() -> bool:
            return {r.status for r in await _rows(fresh)} == {"answered"}

        await _run_until(p.inbox, all_answered)
    finally:
        await fresh.dispose()
    assert _texts(p) == ["seq 0", "seq 1", "seq 2", "seq 3"]
    async with db.sessions() as s:
        assert (await s.execute(select(Conversation))).scalar_one().state["seq"] == [0, 1, 2, 3]


async def test_the_inbox_says_it_caught_up_only_once_everyone_who_wrote_while_it_was_down_is_answered(
    db: Database, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `dolbom serve` loads its web and jobs roles when the inbox says it caught up: before the
    # backlog's last answer they would hold it back (decision 0019). On PostgreSQL several loops
    # work the inbox; one that finds nothing must not speak for the others still handling a row.
    people = [Person(db, user_id=5570000 + i, name=f"사람{i}") for i in range(2)]
    await people[0].inbox.receive([Person.raw(p.update(message=p.message(text="/start"))) for p in people])
    worker = Person(db, user_id=1)  # its Bot, fake Bot API session and Dispatcher answer everyone
    feed = worker.dp.feed_update

    async def slow_feed(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)  # a slow handler: the other loops look meanwhile and find nothing free
        return await feed(*args, **kwargs)

    monkeypatch.setattr(worker.dp, "feed_update", slow_feed)
    inbox = telegram.Inbox(database=db, bot=worker.bot, dp=worker.dp, handlers=None if db.is_sqlite else 4)
    inbox.polled.set()  # the receiver's first poll is over (this test stored the backlog itself)
    answered_when_caught_up: list[int] = []

    async def note() -> None:
        await inbox.caught_up.wait()
        answered_when_caught_up.append(len([m for m in worker.sent() if MENU in m.text]))

    noting = asyncio.create_task(note())

    async def caught_up() -> bool:
        return inbox.caught_up.is_set()

    await _run_until(inbox, caught_up)
    await noting
    assert answered_when_caught_up == [len(people)]


# ---------------------------------------------------------------- order, failures, what is stored


async def test_a_failing_message_holds_back_only_its_own_chat_and_order_is_kept(
    db: Database, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = Person(db, user_id=5550011, name="갑"), Person(db, user_id=5550012, name="을")
    real_step = core.step
    failed: list[str] = []

    async def step_failing_once_for_a(session: Any, state: Any, incoming: Incoming) -> Any:
        if incoming.user_key == str(a.user_id) and not failed:
            failed.append(incoming.data or "")
            raise RuntimeError("a passing failure")
        return await real_step(session, state, incoming)

    monkeypatch.setattr(core, "step", step_failing_once_for_a)
    a_first, a_second = (a.update(callback_query=a.callback_update(f"seq:{k}").callback_query) for k in (0, 1))
    await a.deliver(a_first, a_second)
    await b.deliver(b.update(callback_query=b.callback_update("seq:7").callback_query))
    await a.inbox.drain()  # a's first fails; a's second must wait; b goes on
    rows = await _rows(db)
    assert [r.status for r in rows if r.chat_id == str(a.user_id)] == ["pending", "pending"]
    assert [r.status for r in rows if r.chat_id == str(b.user_id)] == ["answered"]
    assert [m.text for m in a.sent()] == ["seq 7"]  # a's worker answered b meanwhile; a got nothing yet

    clock.set_now(clock.now() + inbound.backoff(1) + timedelta(seconds=1))
    await a.inbox.drain()
    to_a = [m.text for m in a.sent() if str(m.chat_id) == str(a.user_id)]
    assert to_a == ["seq 0", "seq 1"]
    async with db.sessions() as s:
        states = {c.user_key: c.state["seq"] for c in (await s.execute(select(Conversation))).scalars()}
    assert states == {str(a.user_id): [0, 1], str(b.user_id): [7]}


async def test_a_registration_number_never_reaches_the_inbox_and_the_message_is_still_refused(
    db: Database, person: Person
) -> None:
    p = person
    await p.say("/start")
    await p.deliver(p.update(message=p.message(text="제 주민번호는 420315-2345678 이에요")))
    async with db.sessions() as s:
        stored = str([r.payload for r in (await s.execute(select(Inbound))).scalars()])
    assert "420315" not in stored and "2345678" not in stored
    await p.inbox.drain()
    assert "주민등록번호" in p.last_texts(2)
    assert len(p.calls_of(DeleteMessage)) == 1


async def test_the_same_update_received_twice_is_stored_once(db: Database, person: Person) -> None:
    p = person
    update_ = p.update(message=p.message(text="/start"))
    assert await p.inbox.receive([p.raw(update_)]) == 1
    assert await p.inbox.receive([p.raw(update_)]) == 0
    await p.inbox.drain()
    await p.inbox.receive([p.raw(update_)])  # Telegram redelivers after the answer: nothing happens
    await p.inbox.drain()
    assert len([c for c in p.sent() if isinstance(c, SendMessage)]) == 1


# ---------------------------------------------------------------- several workers (PostgreSQL)


@pytest.mark.skipif(pg_url() is None, reason="several bot processes share one inbox only on PostgreSQL")
async def test_two_workers_with_their_own_engines_share_the_inbox_in_order_and_none_twice(
    db: Database, db_url: str, place: Place
) -> None:
    people = [Person(db, user_id=5560000 + i, name=f"사람{i}") for i in range(12)]
    presses = 6
    updates = [
        p.update(callback_query=p.callback_update(f"seq:{k}").callback_query) for k in range(presses) for p in people
    ]
    await people[0].inbox.receive([Person.raw(u) for u in updates])

    sent: list[tuple[str, int, str]] = []  # (worker, chat, text) in the order the Bot API got them
    engines = [Database(db_url), Database(db_url)]
    workers: list[telegram.Inbox] = []
    for name, engine in zip(("one", "two"), engines, strict=True):
        worker = Person(engine, user_id=1)  # only its Bot, fake Bot API session and Dispatcher are used
        original = worker.session.make_request

        async def record(
            bot: Any,
            method: Any,
            timeout: int | None = None,  # noqa: ASYNC109 - the Bot API session's signature
            *,
            _o: Any = original,
            _n: str = name,
        ) -> Any:
            if isinstance(method, SendMessage):
                sent.append((_n, int(method.chat_id), method.text))
                await asyncio.sleep(0.005)  # a Bot API round trip, so the workers overlap
            return await _o(bot, method, timeout)

        worker.session.make_request = record  # type: ignore[method-assign]
        workers.append(telegram.Inbox(database=engine, bot=worker.bot, dp=worker.dp, handlers=2))

    async def everything_answered() -> bool:
        async with db.sessions() as s:
            return await inbound.count_by_status(s) == {"answered": len(updates)}

    stop = asyncio.Event()
    running = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not await everything_answered():
            assert asyncio.get_running_loop().time() < deadline, await _rows(db)
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*running)
        for engine in engines:
            await engine.dispose()

    for p in people:
        mine = [t for _, chat, t in sent if chat == p.user_id]
        assert mine == [f"seq {k}" for k in range(presses)], (p.user_id, mine)
    assert {w for w, _, _ in sent} == {"one", "two"}  # both did part of the work
    async with db.sessions() as s:
        states = {c.user_key: c.state["seq"] for c in (await s.execute(select(Conversation))).scalars()}
    assert states == {str(p.user_id): list(range(presses)) for p in people}
    async with db.sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM inbound WHERE payload IS NOT NULL"))).scalar_one() == 0


async def test_an_answer_cut_off_by_the_network_goes_on_later_from_where_it_stopped(
    db: Database, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = person
    await p.say("/start")
    real = p.session.make_request
    sends: list[str] = []

    async def flaky(bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        if isinstance(method, SendMessage):
            sends.append(method.text)
            if len(sends) == 2:
                raise TelegramNetworkError(method=method, message="connection reset")
        return await real(bot, method, timeout)

    monkeypatch.setattr(p.session, "make_request", flaky)
    before = len(p.sent())
    await p.say("취소")  # two replies: "cancelled", then the menu; the menu's send is cut off
    assert [r.status for r in await _rows(db)][-1] == "handled"
    clock.set_now(clock.now() + timedelta(seconds=5))
    assert await p.inbox.recover(everything=False) == 1
    delivered = [m.text for m in p.sent()[before:]]
    assert len(delivered) == 2 and "취소했어요" in delivered[0] and MENU in delivered[1]
    assert sends[-2:] == [delivered[1], delivered[1]]  # only the cut-off menu was tried again
    assert [r.status for r in await _rows(db)][-1] == "answered"
