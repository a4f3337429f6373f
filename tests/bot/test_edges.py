"""The edges of the bot: webhook secret, error messages, check-in schedule, the web chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from aiogram.methods import SendMessage
from sqlalchemy import func, select

from bot import callbacks
from bot.messages import Incoming, Reply
from care import auth, operators
from dolbom import clock
from dolbom.errors import NotFound
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage import inbound
from storage.db import Database
from storage.models import CheckinSchedule, DeskNotice, Inbound, Order, Outbox
from tests.bot.flow_steps import full_request
from tests.bot.harness import TOKEN, Person
from tests.factories import Place


@callbacks.register("tx")
async def _explodes(session: object, incoming: Incoming, payload: str) -> list[Reply]:
    if payload == "app":
        raise NotFound()
    raise RuntimeError("a bug")


async def test_an_unexpected_error_is_retried_then_the_desk_is_told_and_the_person_gets_an_apology(
    db: Database, person: Person
) -> None:
    await person.say("/start")
    before = len(person.sent())
    await person.press_data("tx:boom")
    for _ in range(inbound.MAX_ATTEMPTS + 1):  # each retry waits its backoff (at most a minute)
        clock.set_now(clock.now() + timedelta(seconds=61))
        await person.inbox.drain()
    assert len(person.sent()) == before  # no half answer, no stack trace in the chat
    async with db.sessions() as s:
        row = (await s.execute(select(Inbound).where(Inbound.kind == "callback_query"))).scalar_one()
        apology = (await s.execute(select(Outbox).where(Outbox.kind == "apology"))).scalar_one()
        notice = (await s.execute(select(DeskNotice))).scalar_one()
    assert (row.status, row.attempts, row.payload) == ("dead", inbound.MAX_ATTEMPTS, None)
    assert apology.chat_id == str(person.user_id) and "죄송해요. 저희 쪽에 문제가 생겼어요." in apology.text
    assert str(person.user_id) in notice.body and "영희" in notice.title
    for text in (apology.text, notice.title, notice.body):
        assert "Traceback" not in text and "a bug" not in text


async def test_an_app_error_from_a_button_is_said_kindly(db: Database, person: Person) -> None:
    await person.say("/start")
    await person.press_data("tx:app")
    assert person.last.text == "찾을 수 없어요." or "찾을 수" in person.last.text


async def test_get_safety_checkins_sets_the_schedule(db: Database, person: Person) -> None:
    p = person
    await p.say("/start")
    await p.press("안부 확인 받기")
    assert "먼저 본인 이름으로 서비스를 신청해 주세요" in p.last.text
    await full_request(p, "checkin")
    await p.say("/start")
    await p.press("안부 확인 받기")
    await p.press("월·수·금")
    await p.press("10시")
    assert "월·수·금 10시에 안부를 여쭐게요" in p.last_texts(2)
    async with db.sessions() as s:
        schedule = (await s.execute(select(CheckinSchedule))).scalar_one()
        assert (schedule.weekdays, schedule.at_minute) == ([0, 2, 4], 600)


# ---------------------------------------------------------------- webhook


def _settings(db_url: str, **kw: object) -> Settings:
    return Settings(
        database_url=db_url,
        telegram_token=TOKEN,
        telegram_mode="webhook",
        webhook_secret="s3cret-value",
        telegram_api_url="http://127.0.0.1:9",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def web(db: Database, db_url: str, place: Place) -> AsyncIterator[httpx.AsyncClient]:
    app = build_web_app(database=db, settings=_settings(db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def _start_update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1763800000,
            "chat": {"id": 777, "type": "private"},
            "from": {"id": 777, "is_bot": False, "first_name": "영희", "language_code": "ko"},
            "text": "/start",
        },
    }


async def test_the_webhook_refuses_a_wrong_or_missing_secret(db: Database, web: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        response = await web.post("/telegram/webhook", json=_start_update(41), headers=headers)
        assert response.status_code == 403
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Inbound))).scalar_one() == 0


async def test_the_webhook_feeds_an_update_with_the_right_secret(db: Database, web: httpx.AsyncClient) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
    response = await web.post("/telegram/webhook", json=_start_update(42), headers=headers)
    assert response.status_code == 200
    # Stored before the 200 (the bot role's inbox worker handles it); a redelivery is stored once.
    response = await web.post("/telegram/webhook", json=_start_update(42), headers=headers)
    assert response.status_code == 200
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Inbound))).scalar_one() == 1


# ---------------------------------------------------------------- web chat


@pytest.fixture
async def operator_client(db: Database, db_url: str, place: Place) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with db.transaction() as s:
        await operators.create(s, username="kim", password="desk-passphrase-123", role="operator")
    signed = await auth.sign_in(
        db, username="kim", password="desk-passphrase-123", ip="127.0.0.1", secret=Settings().secret_key
    )
    assert signed.token and signed.csrf_token
    app = build_web_app(database=db, settings=Settings(database_url=db_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        client.cookies.set("dolbom_session", signed.token)
        yield client, signed.csrf_token


async def _press(client: httpx.AsyncClient, csrf: str, replies: list[dict], text: str) -> list[dict]:
    buttons = {b["text"]: b["data"] for reply in replies for row in reply["buttons"] for b in row}
    assert text in buttons, list(buttons)
    response = await client.post("/chat/api/press", json={"data": buttons[text]}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    return response.json()["replies"]


async def _send(client: httpx.AsyncClient, csrf: str, text: str) -> list[dict]:
    response = await client.post("/chat/api/send", json={"text": text}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    return response.json()["replies"]


async def test_the_web_chat_completes_a_request_and_shows_the_receipt(
    db: Database, operator_client: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = operator_client
    page = await client.get("/chat")
    assert page.status_code == 200
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text
    assert (await client.get("/chat/static/chat.js")).status_code == 200
    r = (await client.post("/chat/api/start", headers={"X-CSRF-Token": csrf})).json()["replies"]
    r = await _press(client, csrf, r, "서비스 신청")
    r = await _press(client, csrf, r, "식사 배달")
    r = await _press(client, csrf, r, "본인")
    r = await _send(client, csrf, "김영희")
    assert r[-1]["contact"] is True
    r = await _send(client, csrf, "010-1234-5678")
    r = await _press(client, csrf, r, next(b["text"] for b in r[-1]["buttons"][0]))
    r = await _send(client, csrf, "망원로 12")
    r = await _send(client, csrf, "1942")
    for answer in ("아니요", "네", "네", "아니요", "일반", "10식"):
        r = await _press(client, csrf, r, answer)
    r = await _send(client, csrf, "내일")
    assert "맞으세요?" in r[-1]["text"]
    for answer in ("네", "없어요", "동의합니다", "동의합니다", "신청하기"):
        r = await _press(client, csrf, r, answer)
    poll = {"X-CSRF-Token": csrf, "X-Dolbom-Poll": "1"}
    messages = (await client.post("/chat/api/messages", json={}, headers=poll)).json()["messages"]
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
        assert order.requested_by_channel == "webchat"
        assert (await s.execute(select(Outbox))).scalar_one().status == "pending"  # shown, not yet acknowledged
    assert len(messages) == 1 and order.receipt_no in messages[0]["text"]
    # The next poll says the page showed it: now it is sent, and not offered again.
    acked = await client.post("/chat/api/messages", json={"after": messages[0]["id"]}, headers=poll)
    assert acked.json()["messages"] == []
    async with db.sessions() as s:
        assert (await s.execute(select(Outbox))).scalar_one().status == "sent"
    assert (await client.get("/chat/api/messages")).json()["messages"] == []


async def test_the_web_chat_needs_a_signed_in_operator_and_the_csrf_token(
    db: Database, operator_client: tuple[httpx.AsyncClient, str]
) -> None:
    client, _csrf = operator_client
    response = await client.post("/chat/api/send", json={"text": "안녕"})
    assert response.status_code == 403
    client.cookies.clear()
    response = await client.get("/chat/api/messages", headers={"X-Dolbom-Poll": "1"})
    assert response.status_code == 401
    response = await client.get("/chat", follow_redirects=False)
    assert response.status_code in (303, 307) and "/login" in response.headers["location"]


async def test_replies_are_sent_to_the_person_who_wrote(db: Database, person: Person) -> None:
    await person.say("/start")
    assert all(isinstance(m, SendMessage) and m.chat_id == person.user_id for m in person.sent())
