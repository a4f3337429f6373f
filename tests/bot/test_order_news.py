"""Issue 12 §2–§3 end to end: the resident hears each change of their order once, in order, on their
messenger (sent by the outbox sender to a stand-in Bot API), answers "못 받았어요" through the real
Dispatcher, and the desk sees the flag; a resident with no messenger is on the 전화 안내 list instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from care import auth, order_notices, orders, phone_calls, provider_tasks, surveys
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.i18n import gettext
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from jobs.sender import Sender
from storage.db import Database
from storage.models import (
    DeskThread,
    District,
    Operator,
    OperatorSession,
    Order,
    Outbox,
    PhoneCall,
    Survey,
)
from tests import factories
from tests.bot.harness import Person
from tests.e2e.botapi import StandIn
from tests.factories import DESK, Place
from tests.jobs.helpers import resident_with_chat, seoul

WHEN = date(2026, 12, 3)  # a Thursday
_ = gettext


@pytest.fixture
async def botapi() -> AsyncIterator[StandIn]:
    server = await StandIn().start()
    yield server
    await server.stop()


def _sender(db: Database, botapi: StandIn) -> Sender:
    settings = Settings(telegram_token="123456:TEST", telegram_api_url=botapi.url, outbox_rate_per_second=1000)
    return Sender(database=db, settings=settings, backoff_base=0.01)


def _provider_actor(provider_id: int, name: str) -> Actor:
    return Actor(kind="provider", id=provider_id, name=name, channel="telegram")


async def _live_the_order(db: Database, order_id: int, first: int, second: int, after_each: Any = None) -> None:
    """received → assigned → returned (the provider declines) → assigned again → accepted → done."""

    async def step(change: Any) -> None:
        async with db.transaction() as s:
            await change(s)
        if after_each is not None:
            await after_each()

    async def assign_first(s: Any) -> None:
        await orders.screen(s, order_id=order_id, actor=DESK)
        await orders.assign(s, order_id=order_id, provider_id=first, actor=DESK)

    async def decline(s: Any) -> None:
        current = await orders.get_current_assignment(s, order_id=order_id)
        await provider_tasks.decline(
            s,
            provider_id=first,
            assignment_id=current.id,
            reason_code="other",
            text="그날 차량이 없어요",
            actor=_provider_actor(first, "햇살협동조합"),
        )

    async def assign_second(s: Any) -> None:
        await orders.assign(s, order_id=order_id, provider_id=second, actor=DESK)

    async def accept(s: Any) -> None:
        await orders.accept(s, order_id=order_id, provider_id=second, actor=_provider_actor(second, "나눔센터"))

    async def complete(s: Any) -> None:
        await orders.start(s, order_id=order_id, actor=_provider_actor(second, "나눔센터"))
        order = await orders.get(s, order_id=order_id)
        await orders.complete(
            s, order_id=order_id, delivered_units=order.units, actor=_provider_actor(second, "나눔센터")
        )

    for change in (assign_first, decline, assign_second, accept, complete):
        await step(change)


async def _world(db: Database, place: Place, *, chat: str | None) -> tuple[int, int, int]:
    async with db.transaction() as s:
        district = await s.get(District, place.district_id)
        district.phone = "02-3153-0000"
        s.add(district)
        if chat is not None:
            resident = await resident_with_chat(s, place, chat, name="박순자")
        else:
            resident = await factories.make_resident(s, place, name="김복례")
        first = await factories.make_provider(s, place, name="햇살협동조합", is_lead=True)
        second = await factories.make_provider(s, place, name="나눔센터")
        extra: dict[str, Any] = {"requested_date": WHEN}
        if chat is not None:
            extra.update(requested_by_channel="telegram", requested_by_key=chat, source="resident")
        order = await factories.make_order(s, resident, **extra)
        return order.id, first.id, second.id  # type: ignore[return-value]


def _expected(order: Order) -> list[str]:
    head = _(
        "About your request for {service} (receipt {receipt_no})",
        service=order_notices.service_text(order.service_code),
        receipt_no=order.receipt_no,
    )
    day = "12월 3일 (목)"
    return [
        f"{head}\n" + _("{provider} will help you on {date}.", provider="햇살협동조합이", date=day),
        f"{head}\n" + _("We are finding another provider to help you. We will tell you as soon as we find one."),
        f"{head}\n" + _("{provider} will help you on {date}.", provider="나눔센터가", date=day),
        f"{head}\n" + _("{provider} has confirmed. They will help you on {date}.", provider="나눔센터가", date=day),
        f"{head}\n" + _("The help is done. Thank you for using the service."),
    ]


async def _console_get(db: Database, path: str) -> httpx.Response:
    async with db.transaction() as s:
        op = (await s.execute(select(Operator).where(Operator.username == "desk-op"))).scalar_one_or_none()
        if op is None:
            district_id = (await s.execute(select(District.id))).scalars().first()
            op = Operator(username="desk-op", password_hash="x", role="operator", district_id=district_id)
            s.add(op)
            await s.flush()
        token, csrf = auth.new_token(), auth.new_token()
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(token), operator_id=op.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )
        )  # type: ignore[arg-type]
    app = build_web_app(database=db, settings=Settings(session_idle_minutes=30))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as client:
        client.cookies.set("dolbom_session", token)
        return await client.get(path)


async def test_the_resident_hears_each_change_once_in_order_and_not_received_flags_the_completion(
    db: Database, place: Place, person: Person, botapi: StandIn
) -> None:
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    chat = str(person.user_id)
    order_id, first, second = await _world(db, place, chat=chat)
    sender = _sender(db, botapi)
    await _live_the_order(db, order_id, first, second, after_each=sender.drain)

    # A day after the provider reported completion: the plain question about that service.
    clock.advance(timedelta(days=1))
    async with db.transaction() as s:
        assert await surveys.send_due(s) == 1
    await sender.drain()
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        survey = (await s.execute(select(Survey).where(Survey.order_id == order_id))).scalar_one()
    received = botapi.sent_to(chat)
    assert [r.text for r in received] == [*_expected(order), _("Did you receive your lunch boxes?")]
    assert all(word in received[0].text for word in ("햇살협동조합이", "12월 3일 (목)"))
    assert all(word in received[2].text for word in ("나눔센터가", "12월 3일 (목)"))
    keyboard = received[-1].reply_markup["inline_keyboard"]  # type: ignore[index]
    buttons = {b["text"]: b["callback_data"] for row in keyboard for b in row}
    assert list(buttons) == [_("I received it"), _("Only part of it"), _("I did not receive it")]
    # Nothing for the resident was sent twice, and no notice is left waiting.
    async with db.sessions() as s:
        pending = (await s.execute(select(Outbox).where(Outbox.chat_id == chat, Outbox.status != "sent"))).all()
        assert pending == []
        assert (await s.execute(select(PhoneCall))).first() is None

    # "못 받았어요", pressed in Telegram, through the real Dispatcher.
    await person.press_data(buttons[_("I did not receive it")])
    assert person.last.text == _(surveys.SORRY_NONE)
    await person.press_data(buttons[_("I did not receive it")])  # a second tap changes nothing
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        assert order.completion_disputed_at is not None
        assert (await s.get(Survey, survey.id)).received == "none"
        [thread] = (await s.execute(select(DeskThread))).scalars().all()
        assert (thread.reason, thread.user_key, thread.resident_id) == ("service_not_received", chat, order.resident_id)
        assert thread.order_id == order_id  # the conversation opens on the order it is about
    # The desk sees the flag on the order page and in the queue row.
    page = await _console_get(db, f"/orders/{order_id}")
    assert page.status_code == 200 and 'id="disputed"' in page.text and 'id="dispute-note"' in page.text
    queue = await _console_get(db, "/queue/rows?status=done")
    assert queue.status_code == 200 and 'data-flag="disputed"' in queue.text
    # Nothing more went to the resident's chat through the outbox (the answers came as the bot's replies).
    await sender.drain()
    assert len(botapi.sent_to(chat)) == 6


async def test_a_resident_with_no_messenger_is_on_the_phone_list_once_per_change_until_ticked_off(
    db: Database, place: Place
) -> None:
    clock.set_now(seoul(2026, 12, 1, 9, 0))
    order_id, first, second = await _world(db, place, chat=None)
    await _live_the_order(db, order_id, first, second)
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        calls = list((await s.execute(select(PhoneCall).order_by(PhoneCall.id))).scalars())
        assert (await s.execute(select(Outbox).where(Outbox.kind == "order_notice"))).first() is None
    assert [c.kind for c in calls] == ["assigned", "returned", "assigned", "accepted", "done"]
    assert [c.text for c in calls] == _expected(order)
    assert {(c.order_id, c.resident_id, c.district_id) for c in calls} == {
        (order_id, order.resident_id, place.district_id)
    }

    page = await _console_get(db, "/calls")
    assert page.status_code == 200 and page.text.count('data-call="') == 5 and "김복례" in page.text
    async with db.transaction() as s:
        op = (await s.execute(select(Operator).where(Operator.username == "desk-op"))).scalar_one()
        access = Access(
            operator_id=op.id, username=op.username, ip="127.0.0.1", role=op.role, district_id=place.district_id
        )
        for call in calls:
            assert await phone_calls.mark_done(s, call_id=call.id, access=access) is True
        assert await phone_calls.mark_done(s, call_id=calls[0].id, access=access) is False  # told once
        assert await phone_calls.list_for_desk(s, access=access) == []
        assert len(await phone_calls.list_for_desk(s, access=access, done=True)) == 5
    page = await _console_get(db, "/calls")
    assert page.text.count('data-call="') == 0
