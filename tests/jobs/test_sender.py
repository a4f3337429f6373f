"""The outbox sender against a stand-in Bot API server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from care import checkins
from dolbom import clock
from dolbom.settings import Settings
from jobs.sender import Sender
from storage import outbox
from storage.models import CheckinSlot, DeskNotice, Outbox, Resident, ResidentChannel
from tests import factories
from tests.e2e.botapi import BAD_GATEWAY, BLOCKED, StandIn, too_many
from tests.jobs.helpers import add_family, outbox_to, resident_with_chat, seoul


@pytest.fixture
async def botapi() -> AsyncIterator[StandIn]:
    server = await StandIn().start()
    yield server
    await server.stop()


def make_sender(db, botapi: StandIn, **kw) -> Sender:
    settings = Settings(
        telegram_token="123456:TEST",
        telegram_api_url=botapi.url,
        outbox_rate_per_second=kw.pop("rate", 1000),
        outbox_concurrency=kw.pop("concurrency", 8),
    )
    return Sender(database=db, settings=settings, backoff_base=kw.pop("backoff_base", 0.01), **kw)


async def enqueue(db, chat_id: str, text: str = "안녕하세요", **kw) -> int:
    async with db.transaction() as session:
        row = await outbox.enqueue(
            session,
            district_id=kw.pop("district_id", None),
            channel=kw.pop("channel", "telegram"),
            chat_id=chat_id,
            text=text,
            **kw,
        )
        return row.id


async def row(db, row_id: int) -> Outbox:
    async with db.sessions() as session:
        return await session.get(Outbox, row_id)


async def test_delivers_with_buttons_and_marks_sent(db, botapi):
    buttons = [[{"text": "잘 지내요", "data": "ci:7:ok"}], [{"text": "도움이 필요해요", "data": "ci:7:help"}]]
    row_id = await enqueue(db, "100", "잘 지내고 계세요?", buttons=buttons)
    await make_sender(db, botapi).drain()
    assert [(r.chat_id, r.text) for r in botapi.received] == [("100", "잘 지내고 계세요?")]
    assert botapi.received[0].reply_markup == {
        "inline_keyboard": [
            [{"text": "잘 지내요", "callback_data": "ci:7:ok"}],
            [{"text": "도움이 필요해요", "callback_data": "ci:7:help"}],
        ]
    }
    sent = await row(db, row_id)
    assert sent.status == "sent" and sent.sent_at is not None
    # Sending again sends nothing: the row is done.
    await make_sender(db, botapi).drain()
    assert len(botapi.received) == 1


async def test_webchat_rows_are_left_to_the_web_chat(db, botapi):
    row_id = await enqueue(db, "w-1", channel="webchat")
    await make_sender(db, botapi).drain()
    assert botapi.received == [] and (await row(db, row_id)).status == "pending"


async def test_429_waits_retry_after_then_delivers(db, botapi):
    botapi.scripts["100"] = [too_many(1)]
    row_id = await enqueue(db, "100")
    sender = make_sender(db, botapi)
    started = time.monotonic()
    await sender.drain()
    assert (await row(db, row_id)).status == "pending"  # not due yet: it waits retry_after
    while (await row(db, row_id)).status != "sent":
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.2)
        await sender.drain()
    assert len(botapi.received) == 2
    assert botapi.received[1].at - botapi.received[0].at >= 1.0
    assert (await row(db, row_id)).attempts == 0  # flood control is not a failure of the message


async def test_403_marks_the_chat_unreachable_and_stops_its_checkins(session, db, botapi):
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "100")
    with clock.freeze(clock.now() - timedelta(days=1)):  # set yesterday, so today's 00:00 is owed
        await checkins.set_schedule(session, resident_id=resident.id, weekdays=list(range(7)), at_minute=0)
    await checkins.dispatch_due(session)
    await session.commit()
    await enqueue(db, "100", "두 번째 메시지")
    botapi.scripts["100"] = [BLOCKED, BLOCKED, BLOCKED]
    await make_sender(db, botapi).drain()
    assert len(botapi.received) == 1  # no retry loop, and the second message is not tried
    async with db.sessions() as s:
        rows = list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())
        assert [r.status for r in rows] == ["dead", "cancelled"]
        channel = (await s.execute(select(ResidentChannel))).scalar_one()
        assert channel.reachable is False
        assert (await s.get(Resident, resident.id)).needs_phone_call is True
        assert (await s.execute(select(CheckinSlot))).scalar_one().status == "unreachable"
    # The next check-in day asks no more through that chat: the board shows a call instead.
    clock.set_now(clock.now() + timedelta(days=1))
    async with db.transaction() as s:
        assert await checkins.dispatch_due(s) == 1
    async with db.sessions() as s:
        statuses = [x.status for x in (await s.execute(select(CheckinSlot).order_by(CheckinSlot.id))).scalars()]
        assert statuses == ["unreachable", "unreachable"]
        assert len(list((await s.execute(select(Outbox))).scalars())) == 2


async def test_5xx_backs_off_then_delivers(db, botapi):
    botapi.scripts["100"] = [BAD_GATEWAY, BAD_GATEWAY]
    row_id = await enqueue(db, "100")
    sender = make_sender(db, botapi, max_attempts=5)
    for _ in range(100):
        await sender.drain()
        if (await row(db, row_id)).status == "sent":
            break
        await asyncio.sleep(0.02)
    done = await row(db, row_id)
    assert done.status == "sent" and done.attempts == 2
    assert len(botapi.received) == 3


async def test_5xx_goes_to_dead_letters_after_the_limit(db, botapi):
    botapi.scripts["100"] = [BAD_GATEWAY] * 10
    row_id = await enqueue(db, "100")
    sender = make_sender(db, botapi, max_attempts=3)
    for _ in range(200):
        await sender.drain()
        if (await row(db, row_id)).status == "dead":
            break
        await asyncio.sleep(0.02)
    dead = await row(db, row_id)
    assert dead.status == "dead" and dead.attempts == 3 and "502" in dead.last_error
    assert len(botapi.received) == 3
    async with db.sessions() as s:
        assert [r.id for r in await outbox.list_for_review(s)] == [row_id]


async def test_network_errors_back_off_like_5xx(db):
    row_id = await enqueue(db, "100")
    settings = Settings(telegram_token="123456:TEST", telegram_api_url="http://127.0.0.1:9")  # nothing listens
    sender = Sender(database=db, settings=settings, backoff_base=0.01, max_attempts=2)
    for _ in range(100):
        await sender.drain()
        if (await row(db, row_id)).status == "dead":
            break
        await asyncio.sleep(0.02)
    dead = await row(db, row_id)
    assert dead.status == "dead" and "network" in dead.last_error


async def test_one_message_a_second_per_chat(db, botapi):
    for i in range(3):
        await enqueue(db, "100", f"m{i}")
    await enqueue(db, "200", "other")
    await make_sender(db, botapi).drain()
    times = [r.at for r in botapi.received if r.chat_id == "100"]
    assert [r.text for r in botapi.received if r.chat_id == "100"] == ["m0", "m1", "m2"]  # in order
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
    # Another chat is not held up by the first.
    other = next(r.at for r in botapi.received if r.chat_id == "200")
    assert other - times[0] < 0.5


async def test_overall_rate_is_kept(db, botapi):
    for i in range(12):
        await enqueue(db, str(1000 + i))
    started = time.monotonic()
    await make_sender(db, botapi, rate=20).drain()
    assert len(botapi.received) == 12
    assert time.monotonic() - started >= 11 / 20 * 0.9


async def test_two_senders_at_once_never_send_a_row_twice(db, botapi):
    for i in range(60):
        await enqueue(db, str(2000 + i))
    await asyncio.gather(make_sender(db, botapi).drain(), make_sender(db, botapi).drain())
    assert len(botapi.received) == 60 and set(botapi.counts().values()) == {1}


async def _crash_mid_send(db, *row_ids: int) -> None:
    """A sender claims the rows and starts sending the last one, then the process dies."""
    async with db.transaction() as s:
        rows = await outbox.claim(s, sender_id="dead-sender", limit=10)
        assert {r.id for r in rows} == set(row_ids)
        assert await outbox.begin_send(s, row_id=row_ids[-1], sender_id="dead-sender")


async def test_a_receipt_in_doubt_after_a_crash_is_sent_again_marked_and_the_row_itself_never_twice(db, botapi):
    await enqueue(db, "100")
    receipt = await enqueue(db, "200", "접수되었어요. 접수번호: 2612-00042", kind="receipt", ref="order:42")
    await _crash_mid_send(db, receipt - 1, receipt)
    # The process died here. The next sender starts:
    sender = make_sender(db, botapi)
    done = await sender.recover()
    assert (done.released, done.resent, done.not_repeated) == (1, 1, 0)
    await sender.drain()
    assert [(r.chat_id, r.text) for r in botapi.received] == [
        ("100", "안녕하세요"),
        ("200", "(다시 보내 드려요)\n접수되었어요. 접수번호: 2612-00042"),
    ]
    async with db.sessions() as s:
        rows = {r.id: r for r in (await s.execute(select(Outbox))).scalars()}
        assert rows[receipt].status == "resent" and "delivery unknown" in (rows[receipt].last_error or "")
        copy = next(r for r in rows.values() if r.id not in (receipt - 1, receipt))
        assert (copy.kind, copy.ref, copy.status) == ("receipt", "order:42", "sent")
        assert await outbox.list_for_review(s) == []  # nobody has to decide anything
    # A second start finds nothing left in doubt: the copy is not sent again.
    assert (await sender.recover()).resent == 0
    await sender.drain()
    assert botapi.counts()["200"] == 1


async def test_a_checkin_question_in_doubt_is_not_asked_again_and_its_slot_goes_on_to_escalation(session, db, botapi):
    clock.set_now(seoul(2026, 11, 23, 9, 0))
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "300")
    await add_family(session, resident, "301")
    await checkins.set_schedule(session, resident_id=resident.id, weekdays=[0], at_minute=600)
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    await checkins.dispatch_due(session)
    await session.commit()
    question = (await outbox_to(session, "300"))[0]
    await _crash_mid_send(db, question.id)

    sender = make_sender(db, botapi)
    assert (await sender.recover()).not_repeated == 1
    await sender.drain()
    assert botapi.received == []  # not asked again
    assert (await row(db, question.id)).status == "not_repeated"
    # An hour later the reminder goes out as for any unanswered question; then the family is alerted.
    clock.set_now(seoul(2026, 11, 23, 11, 0))
    async with db.transaction() as s:
        assert await checkins.remind_due(s) == 1
    clock.set_now(seoul(2026, 11, 23, 12, 0))
    async with db.transaction() as s:
        assert await checkins.escalate_due(s) == 1
    await sender.drain()
    assert [r.chat_id for r in botapi.received] == ["300", "301"]
    async with db.sessions() as s:
        slot = (await s.execute(select(CheckinSlot))).scalar_one()
        assert slot.status == "escalated" and "not asked again" in (slot.note or "")


async def test_rows_left_unconfirmed_before_the_upgrade_are_settled_on_start(db, botapi):
    receipt = await enqueue(db, "200", "접수번호: 2612-00007", kind="receipt")
    async with db.transaction() as s:
        await s.execute(update(Outbox).where(Outbox.id == receipt).values(status="unconfirmed"))
    sender = make_sender(db, botapi)
    assert (await sender.recover()).resent == 1
    await sender.drain()
    assert [r.text for r in botapi.received] == ["(다시 보내 드려요)\n접수번호: 2612-00007"]


async def test_a_receipt_that_fails_for_good_goes_on_the_desks_notices(session, db, botapi):
    place = await factories.make_district(session)
    resident = await factories.make_resident(session, place)
    order = await factories.make_order(session, resident)
    await session.commit()
    botapi.scripts["200"] = [BAD_GATEWAY] * 5
    row_id = await enqueue(db, "200", "접수번호", kind="receipt", ref=f"order:{order.id}")
    sender = make_sender(db, botapi, max_attempts=2)
    for _ in range(100):
        await sender.drain()
        if (await row(db, row_id)).status == "dead":
            break
        await asyncio.sleep(0.02)
    async with db.sessions() as s:
        notice = (await s.execute(select(DeskNotice))).scalar_one()
    assert (notice.kind, notice.district_id, notice.order_id) == ("message_not_delivered", place.district_id, order.id)
    assert "접수 안내" in notice.title and "200" in notice.body


async def test_a_blocked_chat_with_a_receipt_waiting_goes_on_the_desks_notices(session, db, botapi):
    place = await factories.make_district(session)
    resident = await resident_with_chat(session, place, "100")
    order = await factories.make_order(session, resident)
    await session.commit()
    await enqueue(db, "100", "안녕하세요")
    await enqueue(db, "100", "접수번호", kind="receipt", ref=f"order:{order.id}")
    botapi.scripts["100"] = [BLOCKED]
    await make_sender(db, botapi).drain()
    async with db.sessions() as s:
        assert [r.status for r in (await s.execute(select(Outbox).order_by(Outbox.id))).scalars()] == [
            "dead",
            "cancelled",
        ]
        notice = (await s.execute(select(DeskNotice))).scalar_one()
    assert notice.district_id == place.district_id and "접수 안내" in notice.title and "2" in notice.body


async def _drain_until_sent(senders: list[Sender], db, row_ids: list[int], seconds: float = 15) -> None:
    started = time.monotonic()
    while True:
        async with db.sessions() as s:
            statuses = {r.status for r in (await s.execute(select(Outbox).where(Outbox.id.in_(row_ids)))).scalars()}
        if statuses == {"sent"}:
            return
        assert time.monotonic() - started < seconds, statuses
        await asyncio.gather(*(sender.drain() for sender in senders))
        await asyncio.sleep(0.1)


def delivered(botapi: StandIn, chat_id: str, refused: int = 0) -> list[str]:
    """The texts the chat got, in arrival order, without the first `refused` requests (answered 429)."""
    return [r.text for r in botapi.received if r.chat_id == chat_id][refused:]


async def test_a_429_does_not_let_the_next_message_of_the_chat_overtake(db, botapi):
    botapi.scripts["100"] = [too_many(1)]
    ids = [await enqueue(db, "100", f"m{i}") for i in range(3)]
    await _drain_until_sent([make_sender(db, botapi)], db, ids)
    assert delivered(botapi, "100", refused=1) == ["m0", "m1", "m2"]
    async with db.sessions() as s:
        rows = list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())
        assert [r.sent_at for r in rows] == sorted(r.sent_at for r in rows)  # type: ignore[type-var]


async def test_two_senders_at_once_keep_each_chats_order_through_429_and_5xx(db, botapi):
    chats = [str(3000 + i) for i in range(6)]
    botapi.scripts[chats[0]] = [too_many(1)]
    botapi.scripts[chats[1]] = [BAD_GATEWAY]
    botapi.scripts[chats[2]] = [too_many(1), BAD_GATEWAY]
    ids = []
    for n in range(4):  # interleaved, as a busy evening writes them
        for chat in chats:
            ids.append(await enqueue(db, chat, f"{chat}-{n}"))
    first, second = make_sender(db, botapi), make_sender(db, botapi)
    both = asyncio.Barrier(2)

    async def run(sender: Sender) -> None:
        await both.wait()  # both claim at the same moment
        await sender.drain()

    await asyncio.gather(run(first), run(second))
    await _drain_until_sent([first, second], db, ids, seconds=30)
    refused = {chats[0]: 1, chats[1]: 1, chats[2]: 2}
    for chat in chats:
        assert delivered(botapi, chat, refused.get(chat, 0)) == [f"{chat}-{n}" for n in range(4)], chat
