"""Acceptance of the inbox (issue 12 §1): the real aiogram Dispatcher, the console app and the outbox
sender against a stand-in Bot API on loopback.

A resident taps 상담원과 이야기하기 and writes; the operator sees it (unread 1), answers with a canned
reply; the answer reaches the stand-in Bot API; the resident answers; the conversation reopens;
the operator resolves it; the 1–5 question arrives and the resident's tap is recorded.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from care import auth, inbox
from dolbom import clock
from dolbom.i18n import gettext
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import DeskThread, Operator, OperatorSession, Order, Referral
from tests.bot.care_people import joined_care_manager
from tests.bot.harness import Person
from tests.e2e.botapi import StandIn
from tests.factories import Place, make_order, make_resident
from tests.jobs.test_sender import make_sender

CANNED = "확인해 보고 오늘 안에 전화 드릴게요."


@pytest.fixture
async def botapi() -> AsyncIterator[StandIn]:
    server = await StandIn().start()
    yield server
    await server.stop()


class Desk:
    """One operator signed in to the console (a server-side session, as after a real sign-in)."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(self, path: str, **data: Any) -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": self.csrf})


@pytest.fixture
async def desk(db: Database, place: Place) -> AsyncIterator[Desk]:
    token, csrf = auth.new_token(), auth.new_token()
    async with db.transaction() as s:
        admin = Operator(username="admin-a", password_hash="x", role="admin", district_id=place.district.id)
        op = Operator(
            username="kim", display_name="김상담", password_hash="x", role="operator", district_id=place.district.id
        )
        s.add_all([admin, op])
        await s.flush()
        await inbox.save_canned(
            s,
            access=auth.Access(
                operator_id=admin.id, username="admin-a", ip=None, district_id=admin.district_id, role="admin"
            ),
            district_id=place.district.id,  # type: ignore[arg-type]
            code="later",
            text=CANNED,
        )
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(token), operator_id=op.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )
        )  # type: ignore[arg-type]
    app = build_web_app(database=db, settings=Settings(session_idle_minutes=30))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as client:
        client.cookies.set("dolbom_session", token)
        yield Desk(client, csrf)


async def _thread(db: Database) -> DeskThread:
    async with db.sessions() as s:
        return (await s.execute(select(DeskThread))).scalar_one()


async def test_a_resident_and_the_desk_talk_through_the_inbox_until_it_is_resolved_and_rated(
    db: Database, person: Person, desk: Desk, botapi: StandIn
) -> None:
    await person.say("/start")
    await person.press("상담원과 이야기하기")
    await person.say("도시락이 오늘 안 왔어요")

    # The desk sees it: unread 1 in the menu's figures, and the row in the list.
    figures = (await desk.get("/inbox/poll")).json()
    assert (figures["unread"], figures["open"], figures["overdue"]) == (1, 1, 0)
    listing = await desk.get("/inbox")
    assert listing.status_code == 200 and "도시락이 오늘 안 왔어요" in listing.text
    thread = await _thread(db)
    assert thread.assignee_id is not None  # signed in now: given to the operator automatically

    # Opening it marks it read; the answer is the canned reply typed as "/later".
    page = await desk.get(f"/inbox/{thread.id}")
    assert page.status_code == 200 and (await desk.get("/inbox/poll")).json()["unread"] == 0
    answered = await desk.post(f"/inbox/{thread.id}/reply", text="/later")
    assert answered.status_code == 303, answered.text
    await desk.post(f"/inbox/{thread.id}/pending", version=str((await _thread(db)).version))
    assert (await _thread(db)).status == "pending"

    await make_sender(db, botapi).drain()
    chat = str(person.user_id)
    assert [(r.chat_id, r.text) for r in botapi.received] == [(chat, CANNED)]

    # The resident answers: the conversation is open again and unread.
    await person.say("네, 기다릴게요")
    reopened = await _thread(db)
    assert reopened.status == "open" and reopened.id == thread.id
    assert (await desk.get("/inbox/poll")).json()["unread"] == 1

    resolved = await desk.post(f"/inbox/{thread.id}/resolve", version=str(reopened.version))
    assert resolved.status_code == 303
    await make_sender(db, botapi).drain()
    assert len(botapi.received) == 2
    question = botapi.received[1]
    assert question.chat_id == chat and question.text == gettext(inbox.RATING_QUESTION)
    assert question.reply_markup is not None
    scores = [b["callback_data"] for b in question.reply_markup["inline_keyboard"][0]]
    assert scores == [f"dr:{thread.id}:{n}" for n in range(1, 6)]

    await person.press_data(scores[4])
    assert person.last.text == gettext(inbox.RATING_THANKS)
    assert (await _thread(db)).rating == 5
    # Resolving again does not ask again.
    final = await _thread(db)
    await desk.post(f"/inbox/{thread.id}/open", version=str(final.version))
    await desk.post(f"/inbox/{thread.id}/resolve", version=str((await _thread(db)).version))
    await make_sender(db, botapi).drain()
    assert len(botapi.received) == 2


async def test_free_text_the_bot_cannot_place_lands_in_the_inbox(db: Database, person: Person, desk: Desk) -> None:
    await person.say("/start")
    await person.say("우리 집 보일러가 고장났는데 어디에 말해야 하나요")
    thread = await _thread(db)
    assert thread.reason == "unplaced"
    listing = await desk.get("/inbox")
    assert "보일러" in listing.text


async def test_a_care_manager_asks_the_desk_about_one_of_their_orders_and_the_order_page_shows_it(
    db: Database, place: Place, desk: Desk
) -> None:
    manager_chat, manager = await joined_care_manager(db, place)
    async with db.transaction() as s:
        resident = await make_resident(s, place)
        mine = await make_order(s, resident)
        referral = Referral(resident_id=resident.id, care_manager_id=manager.id, urgency="normal")  # type: ignore[arg-type]
        s.add(referral)
        await s.flush()
        mine.referral_id = referral.id
        s.add(mine)
        someone_elses = await make_order(s, resident)
    await manager_chat.press(gettext("Ask the desk"))
    buttons = manager_chat.buttons()
    assert any(mine.receipt_no in b for b in buttons) and not any(someone_elses.receipt_no in b for b in buttons)
    await manager_chat.press(next(b for b in buttons if mine.receipt_no in b))
    await manager_chat.say("이 어르신 방문 날짜를 바꿀 수 있을까요?")
    thread = await _thread(db)
    assert (thread.reason, thread.order_id, thread.resident_id) == ("order_question", mine.id, resident.id)
    order_page = await desk.get(f"/orders/{mine.id}")
    assert order_page.status_code == 200 and f"/inbox/{thread.id}" in order_page.text
    api = await desk.client.get(f"/api/inbox?status=open&order_id={mine.id}")
    assert [t["id"] for t in api.json()["threads"]] == [thread.id]
    async with db.sessions() as s:
        assert (await s.get(Order, someone_elses.id)) is not None


async def test_a_provider_asks_the_desk_only_about_orders_given_to_them(db: Database, place: Place, desk: Desk) -> None:
    from care import orders
    from tests.bot.care_people import joined_staff
    from tests.factories import DESK, make_provider

    staff, provider = await joined_staff(db, place)
    async with db.transaction() as s:
        resident = await make_resident(s, place)
        theirs = await make_order(s, resident)
        await orders.screen(s, order_id=theirs.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=theirs.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
        other = await make_provider(s, place, name="다른협동조합")
        not_theirs = await make_order(s, resident)
        await orders.screen(s, order_id=not_theirs.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=not_theirs.id, provider_id=other.id, actor=DESK)  # type: ignore[arg-type]
    await staff.say("/start")
    await staff.press(gettext("Ask the desk"))
    buttons = staff.buttons()
    assert any(theirs.receipt_no in b for b in buttons) and not any(not_theirs.receipt_no in b for b in buttons)
    # A forged button for someone else's order is refused; nothing reaches the desk.
    await staff.press_data(next(iter(buttons.values())).split(":")[0] + f":o{not_theirs.id}")
    async with db.sessions() as s:
        assert (await s.execute(select(DeskThread))).first() is None
    await staff.press(next(b for b in staff.buttons() if theirs.receipt_no in b))
    await staff.say("어르신 댁 주소가 바뀐 것 같아요")
    thread = await _thread(db)
    assert (thread.reason, thread.order_id) == ("order_question", theirs.id)


async def test_a_message_that_lands_between_the_page_and_its_first_poll_still_shows(
    db: Database, person: Person, desk: Desk
) -> None:
    await person.say("/start")
    await person.press("상담원과 이야기하기")
    await person.say("도시락이 오늘 안 왔어요")
    thread = await _thread(db)
    listing = await desk.get("/inbox")
    page = await desk.get(f"/inbox/{thread.id}")
    list_stamp = int(re.search(r'id="inbox"[^>]*data-stamp="(\d+)"', listing.text).group(1))  # type: ignore[union-attr]
    page_stamp = int(re.search(r'id="messages"[^>]*data-stamp="(\d+)"', page.text).group(1))  # type: ignore[union-attr]

    # Nothing new yet: the first poll agrees with what the pages show, so nothing is fetched again.
    assert (await desk.get(f"/inbox/poll?thread={thread.id}")).json()["thread_stamp"] == page_stamp

    # The person writes before the pages' first poll: the poll's stamps differ from the pages', so
    # the open conversation and the list fetch what they do not show yet.
    await person.say("네, 기다릴게요")
    figures = (await desk.get(f"/inbox/poll?thread={thread.id}")).json()
    assert figures["thread_stamp"] != page_stamp
    assert figures["stamp"] != list_stamp
