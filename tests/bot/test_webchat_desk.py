"""The web chat is a tool of the desk: operators only, in their own district, requests taken by them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from care import auth
from dolbom import clock
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, DeskMessage, Operator, OperatorSession, Order, OrderHistory, ResidentChannel
from tests.bot.test_edges import _press, _send
from tests.factories import Place, make_district


async def _client_for(db: Database, db_url: str, operator: Operator) -> tuple[httpx.AsyncClient, str]:
    token, csrf = auth.new_token(), auth.new_token()
    async with db.transaction() as s:
        s.add(operator)
        await s.flush()
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(token), operator_id=operator.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )  # type: ignore[arg-type]
        )
    app = build_web_app(database=db, settings=Settings(database_url=db_url))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    client.cookies.set("dolbom_session", token)
    return client, csrf


@pytest.fixture
async def second(db: Database, place: Place) -> Place:
    # `place` is the first district (the one the Telegram bot serves); this is another one.
    async with db.transaction() as s:
        return await make_district(s, name="은평구")


@pytest.fixture
async def b_operator(db: Database, db_url: str, second: Place) -> AsyncIterator[tuple[httpx.AsyncClient, str, int]]:
    op = Operator(username="eunpyeong", display_name="은평 창구", password_hash="x", role="operator")
    op.district_id = second.district_id
    client, csrf = await _client_for(db, db_url, op)
    async with client:
        yield client, csrf, op.id  # type: ignore[misc]


async def test_a_request_in_the_web_chat_is_taken_by_the_operator_in_their_own_district(
    db: Database, second: Place, b_operator: tuple[httpx.AsyncClient, str, int]
) -> None:
    client, csrf, operator_id = b_operator
    r = (await client.post("/chat/api/start", headers={"X-CSRF-Token": csrf})).json()["replies"]
    r = await _press(client, csrf, r, "서비스 신청")
    r = await _press(client, csrf, r, "식사 배달")
    r = await _press(client, csrf, r, "본인")
    r = await _send(client, csrf, "김영희")
    r = await _send(client, csrf, "010-1234-5678")
    # The dongs offered are the operator's district's, not the bot's first district's.
    offered = {b["data"].rsplit(":", 1)[-1] for row in r[-1]["buttons"] for b in row}
    assert {str(d.id) for d in second.dongs} >= offered - {"skip", "home", "cancel"}
    r = await _press(client, csrf, r, next(b["text"] for b in r[-1]["buttons"][0]))
    r = await _send(client, csrf, "망원로 12")
    r = await _send(client, csrf, "1942")
    for answer in ("아니요", "네", "네", "아니요", "일반", "10식"):
        r = await _press(client, csrf, r, answer)
    r = await _send(client, csrf, "내일")
    for answer in ("네", "없어요", "동의합니다", "동의합니다", "신청하기"):
        r = await _press(client, csrf, r, answer)
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
        created = (
            (await s.execute(select(OrderHistory).where(OrderHistory.order_id == order.id).order_by(OrderHistory.id)))
            .scalars()
            .first()
        )
        bound = (await s.execute(select(ResidentChannel).where(ResidentChannel.user_key == f"op{operator_id}"))).all()
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "chat_request"))).scalar_one()
    assert order.district_id == second.district_id and order.source == "desk_chat"
    assert created is not None and (created.actor_kind, created.actor_id) == ("operator", operator_id)
    assert bound == []  # the operator's chat never becomes the resident's
    assert (logged.username, logged.resident_id) == ("eunpyeong", order.resident_id)


async def test_a_viewer_cannot_use_the_web_chat(db: Database, db_url: str, place: Place) -> None:
    op = Operator(username="look", password_hash="x", role="viewer", district_id=place.district_id)
    client, csrf = await _client_for(db, db_url, op)
    async with client:
        assert (await client.get("/chat")).status_code == 403
        assert (await client.post("/chat/api/start", headers={"X-CSRF-Token": csrf})).status_code == 403
        assert (
            await client.post("/chat/api/send", json={"text": "안녕"}, headers={"X-CSRF-Token": csrf})
        ).status_code == 403
    async with db.sessions() as s:
        assert (await s.execute(select(Order))).first() is None


async def test_text_with_control_characters_is_answered_and_stored_without_them(
    db: Database, second: Place, b_operator: tuple[httpx.AsyncClient, str, int]
) -> None:
    client, csrf, _ = b_operator
    await client.post("/chat/api/start", headers={"X-CSRF-Token": csrf})
    # NUL (which PostgreSQL refuses in text) and a bell, as a fuzzer sent them, around words and an emoji.
    sent = await client.post(
        "/chat/api/send",
        content='{"text": "\\u0000\\u0007\\uae40\\uc601\\ud76c \\ud83d\\ude00"}',
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["replies"], "the person gets an answer"
    async with db.sessions() as s:
        texts = [m.text for m in (await s.execute(select(DeskMessage))).scalars()]
    assert "김영희 😀" in texts  # the words reach the desk's inbox, the control characters do not
