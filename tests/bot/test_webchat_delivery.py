"""Web chat messages count as delivered only when the page says it showed them (issue 10)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from care import auth, operators
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage import conversations, outbox
from storage.db import Database
from storage.models import Outbox
from tests.storage.pausing import Pause, first_write_or_lock, select_from

CHAT = "op1"


async def _receipt(db: Database, chat_id: str = CHAT, text: str = "접수번호 2612-00001 입니다.") -> int:
    async with db.transaction() as s:
        row = await outbox.enqueue(s, district_id=None, channel="webchat", chat_id=chat_id, text=text, kind="receipt")
        assert row.id is not None
        return row.id


async def _status(db: Database, row_id: int) -> str:
    async with db.sessions() as s:
        row = await s.get(Outbox, row_id)
        assert row is not None
        return row.status


@pytest.fixture
async def page(db: Database, db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A signed-in operator's web chat page (user key op<id>), and the headers of its poll."""
    async with db.transaction() as s:
        await operators.create(s, username="kim", password="맑은하늘-창구-2026", role="operator")
    signed = await auth.sign_in(db, username="kim", password="맑은하늘-창구-2026", ip="127.0.0.1", secret="test-secret")
    assert signed.token and signed.csrf_token
    app = build_web_app(database=db, settings=Settings(database_url=db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        client.cookies.set("dolbom_session", signed.token)
        yield client, {"X-CSRF-Token": signed.csrf_token, "X-Dolbom-Poll": "1"}


async def test_a_poll_response_lost_on_the_way_does_not_lose_the_receipt(
    db: Database, page: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, poll = page
    row_id = await _receipt(db)
    first = await client.post("/chat/api/messages", json={}, headers=poll)
    assert [m["id"] for m in first.json()["messages"]] == [row_id]
    # That response never reached the page (the network dropped it); the page polls again.
    again = (await client.post("/chat/api/messages", json={}, headers=poll)).json()["messages"]
    assert [m["id"] for m in again] == [row_id] and "2612-00001" in again[0]["text"]
    assert await _status(db, row_id) == "pending"
    # The page showed it and says so with its next poll.
    newer = await _receipt(db, text="배정되었어요.")
    after = (await client.post("/chat/api/messages", json={"after": row_id}, headers=poll)).json()["messages"]
    assert [m["id"] for m in after] == [newer]
    assert await _status(db, row_id) == "sent" and await _status(db, newer) == "pending"


async def test_the_acknowledgement_needs_the_csrf_token_and_only_touches_the_operators_own_chat(
    db: Database, page: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, poll = page
    own = await _receipt(db)
    other = await _receipt(db, chat_id="op99", text="다른 상담원의 접수")
    refused = await client.post("/chat/api/messages", json={"after": other}, headers={"X-Dolbom-Poll": "1"})
    assert refused.status_code == 403 and await _status(db, own) == "pending"
    ok = await client.post("/chat/api/messages", json={"after": other}, headers=poll)
    assert ok.status_code == 200 and ok.json()["messages"] == []
    assert await _status(db, own) == "sent" and await _status(db, other) == "pending"


async def test_two_polls_at_once_whose_responses_are_lost_leave_the_receipt_for_the_next_poll(db: Database) -> None:
    row_id = await _receipt(db)
    both = asyncio.Barrier(2)

    async def poll() -> list[int]:
        pause = Pause(select_from("outbox"), barrier=both)
        async with db.transaction() as s:
            await pause.attach(s)
            return [r.id for r in await conversations.take_outbox(s, channel="webchat", chat_id=CHAT)]  # type: ignore[misc]

    assert await asyncio.gather(poll(), poll()) == [[row_id], [row_id]]
    # Neither response reached the page. The next poll still has the receipt.
    async with db.transaction() as s:
        assert [r.id for r in await conversations.take_outbox(s, channel="webchat", chat_id=CHAT)] == [row_id]

    # Two tabs acknowledge it at the same moment: it becomes sent once, and is offered no more.
    async def ack() -> list[Outbox]:
        pause = Pause(first_write_or_lock, barrier=both)
        async with db.transaction() as s:
            await pause.attach(s)
            return await conversations.take_outbox(s, channel="webchat", chat_id=CHAT, after=row_id)

    assert await asyncio.gather(ack(), ack()) == [[], []]
    async with db.sessions() as s:
        rows = list((await s.execute(select(Outbox))).scalars())
        assert [(r.id, r.status) for r in rows] == [(row_id, "sent")]
