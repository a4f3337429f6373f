"""The outbox sender against a stand-in Bot API server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from care import checkins
from dolbom import clock
from dolbom.settings import Settings
from jobs.sender import Sender
from storage import outbox
from storage.models import CheckinSlot, Outbox, Resident, ResidentChannel
from tests import factories
from tests.e2e.botapi import BAD_GATEWAY, BLOCKED, StandIn, too_many
from tests.jobs.helpers import resident_with_chat


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
        row = await outbox.enqueue(session, channel=kw.pop("channel", "telegram"), chat_id=chat_id, text=text, **kw)
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


async def test_a_crash_mid_send_leaves_the_row_for_review_not_resent(db, botapi):
    await enqueue(db, "100")
    sending_id = await enqueue(db, "200")
    async with db.transaction() as s:
        rows = await outbox.claim(s, sender_id="dead-sender", limit=10)
        assert len(rows) == 2
        assert await outbox.begin_send(s, row_id=sending_id, sender_id="dead-sender")
    # The process died here. The next sender starts:
    sender = make_sender(db, botapi)
    assert await sender.recover() == (1, 1)
    await sender.drain()
    assert [r.chat_id for r in botapi.received] == ["100"]
    assert (await row(db, sending_id)).status == "unconfirmed"
    async with db.sessions() as s:
        assert [r.id for r in await outbox.list_for_review(s)] == [sending_id]
    # An operator may decide to send it again.
    async with db.transaction() as s:
        assert await outbox.requeue(s, row_id=sending_id)
    await sender.drain()
    assert botapi.counts()["200"] == 1
