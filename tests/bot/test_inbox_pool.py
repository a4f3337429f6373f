"""A small connection pool: people wait in the inbox for a connection and are all answered, none dropped.

Issue 15: with 1,000 people at once the pool ran out and requests were lost. The inbox sizes its
loops from the pool (settings) and waits for a connection (back-pressure); whatever cannot get
one now stays in the inbound table and is answered later. Both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import func, select, text
from sqlmodel import col

from storage import inbound
from storage.db import Database
from storage.models import Inbound
from tests.bot.harness import Person
from tests.factories import Place

MENU = "무엇을 도와 드릴까요?"
PEOPLE = 50


async def _statuses(db: Database) -> Counter[str]:
    async with db.sessions() as s:
        rows = (await s.execute(select(col(Inbound.status), func.count()).group_by(col(Inbound.status)))).all()
    return Counter({status: int(n) for status, n in rows})


async def test_with_a_pool_of_two_and_fifty_people_at_once_every_update_is_answered_once(
    db_url: str, db: Database, place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram")
    # A pool of 2 and no overflow; a caller gives up after 0.2 s waiting for a connection.
    small = Database(db_url, pool_size=2, max_overflow=0, pool_timeout=0.2)
    try:
        people = [Person(small, user_id=8_100_000 + i) for i in range(PEOPLE)]
        host = people[0]  # one process: one Bot, one Dispatcher, one inbox for everyone
        assert small.connections == 2
        stop = asyncio.Event()
        worker = asyncio.create_task(host.inbox.run(stop))
        stored_late = 0

        async def receive(person: Person) -> None:
            # As the getUpdates loop: an update that could not be stored is not confirmed, and
            # Telegram hands it over again; here the person's update is simply offered again.
            nonlocal stored_late
            update = person.raw(person.update(message=person.message(text="/start")))
            while True:
                try:
                    await host.inbox.receive([update])
                    return
                except Exception:
                    stored_late += 1
                    await asyncio.sleep(0.05)

        async def hog() -> None:
            # Someone else (the console, a job) holds a connection for a while meanwhile.
            async with small.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(1.0)

        try:
            await asyncio.gather(hog(), *(receive(p) for p in people))
            for _ in range(600):
                statuses = await _statuses(small)
                if statuses.get(inbound.ANSWERED) == PEOPLE:
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await worker
        sent = [c for c in host.session.calls if isinstance(c, SendMessage)]
        per_chat = Counter(str(m.chat_id) for m in sent if MENU in m.text)
        assert per_chat == Counter({str(p.user_id): 1 for p in people}), (per_chat, await _statuses(small))
        assert await _statuses(small) == Counter({inbound.ANSWERED: PEOPLE})
        async with small.sessions() as s:
            retried = (await s.execute(select(func.count()).where(col(Inbound.attempts) > 0))).scalar_one()
        assert retried == 0  # waiting for a connection is not a failure
        # ... nor an error for the desk's logs: the inbox waits for a connection (back-pressure).
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        await small.dispose()
