"""Satisfaction surveys one day after completion; the scores feed the provider's figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import callbacks
from bot.actions import survey as survey_action
from bot.messages import Incoming
from care import catalog, orders, surveys
from dolbom import clock
from dolbom.errors import PermissionDenied
from dolbom.i18n import gettext
from storage.models import DeskMessage, DeskThread, Order, Survey
from tests import factories
from tests.factories import DESK
from tests.jobs.helpers import outbox_to, seoul


async def _done_order(session, place, provider, **kw):
    resident = await factories.make_resident(session, place)
    order = await factories.make_order(session, resident, **kw)
    await orders.screen(session, order_id=order.id, actor=DESK)
    await orders.assign(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.accept(session, order_id=order.id, provider_id=provider.id, actor=DESK)
    await orders.start(session, order_id=order.id, actor=DESK)
    await orders.complete(session, order_id=order.id, delivered_units=order.units, actor=DESK)
    return order


async def test_asked_one_day_after_completion_whether_it_arrived_then_the_score_feeds_the_provider(session):
    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    good = await factories.make_provider(session, place, name="좋은기관")
    order = await _done_order(
        session, place, good, requested_by_channel="telegram", requested_by_key="100", source="resident"
    )
    clock.advance(timedelta(hours=23))
    assert await surveys.send_due(session) == 0
    clock.advance(timedelta(hours=1))
    assert await surveys.send_due(session) == 1
    assert await surveys.send_due(session) == 0  # asked once
    [question] = [m for m in await outbox_to(session, "100") if m.kind == "survey"]
    assert question.text == surveys.received_question("meals") == gettext("Did you receive your lunch boxes?")
    survey = (await session.execute(Survey.__table__.select())).one()
    assert question.buttons == [
        [{"text": gettext(surveys.RECEIVED[key]), "data": f"sr:{survey.id}:{key}"}] for key in ("all", "partly", "none")
    ]

    handler, payload = callbacks.find(f"sr:{survey.id}:all")
    thanks, score = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    assert thanks.text == gettext(surveys.THANKS_RECEIVED)
    assert "만족하셨나요" in score.text
    assert score.buttons_json() == [[{"text": str(n), "data": f"sv:{survey.id}:{n}"} for n in range(1, 6)]]
    handler, payload = callbacks.find(f"sv:{survey.id}:4")
    replies = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    assert "고맙습니다" in replies[0].text
    await surveys.add_comment(session, survey_id=survey.id, comment="친절했어요", channel="telegram", user_key="100")
    scores = await surveys.provider_scores(session, district_id=place.district_id)
    assert scores[good.id].average == 4.0 and scores[good.id].answers == 1
    stored = await session.get(Survey, survey.id)
    assert stored.comment == "친절했어요" and stored.order_id == order.id and stored.received == "all"
    assert (await session.get(Order, order.id)).completion_disputed_at is None


@pytest.mark.parametrize("code", [c.value for c in catalog.ServiceCode])
def test_every_service_has_its_own_plain_question(code):
    assert code in catalog.RECEIVED_QUESTION
    assert surveys.received_question(code) == gettext(catalog.RECEIVED_QUESTION[code])
    assert len(set(catalog.RECEIVED_QUESTION.values())) == len(catalog.ServiceCode)


async def _asked(session, place, provider, key="100", service_code="meals"):
    order = await _done_order(
        session, place, provider, requested_by_channel="telegram", requested_by_key=key, service_code=service_code
    )
    clock.advance(timedelta(days=1))
    await surveys.send_due(session)
    survey = (await session.execute(select(Survey).where(Survey.order_id == order.id))).scalar_one()
    return order, survey


@pytest.mark.parametrize("answer", ["partly", "none"])
async def test_not_all_received_flags_the_completion_and_opens_a_desk_conversation_once(session, answer):
    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    order, survey = await _asked(session, place, provider, service_code="escort")
    [question] = [m for m in await outbox_to(session, "100") if m.kind == "survey"]
    assert question.text == gettext("Did you get good help going to the hospital and back?")
    handler, payload = callbacks.find(f"sr:{survey.id}:{answer}")
    replies = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    sorry = surveys.SORRY_PARTLY if answer == "partly" else surveys.SORRY_NONE
    assert replies[0].text == gettext(sorry)
    # 일부만: the score is still asked as the second question; 못 받았어요: no score for what did not come.
    assert len(replies) == (2 if answer == "partly" else 1)
    stored = await session.get(Order, order.id, populate_existing=True)
    assert stored.completion_disputed_at == clock.now()
    [thread] = (await session.execute(select(DeskThread))).scalars().all()
    assert (thread.reason, thread.channel, thread.user_key, thread.district_id) == (
        "service_not_received",
        "telegram",
        "100",
        place.district_id,
    )
    [message] = (await session.execute(select(DeskMessage))).scalars().all()
    assert order.receipt_no in message.text and gettext(surveys.RECEIVED[answer]) in message.text
    history = await orders.list_history(session, order_id=order.id)
    assert history[-1].action == "dispute" and history[-1].actor_kind == "resident"
    # A second tap (the same or another button) changes nothing and opens nothing.
    clock.advance(timedelta(minutes=5))
    await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    handler2, payload2 = callbacks.find(f"sr:{survey.id}:all")
    await handler2(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload2)
    assert len((await session.execute(select(DeskMessage))).scalars().all()) == 1
    stored = await session.get(Order, order.id, populate_existing=True)
    assert stored.completion_disputed_at == clock.now() - timedelta(minutes=5)
    assert (await session.get(Survey, survey.id, populate_existing=True)).received == answer


async def test_another_chat_cannot_answer_whether_it_arrived(session):
    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    order, survey = await _asked(session, place, provider)
    with pytest.raises(PermissionDenied):
        await surveys.answer_received(session, survey_id=survey.id, received="none", channel="telegram", user_key="999")
    handler, payload = callbacks.find(f"sr:{survey.id}:none")
    [reply] = await handler(session, Incoming(channel="telegram", user_key="999", kind="callback"), payload)
    assert reply.text == gettext(survey_action.MSG_INVALID)
    handler, payload = callbacks.find(f"sr:{survey.id}:maybe")
    [reply] = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    assert reply.text == gettext(survey_action.MSG_INVALID)
    assert (await session.get(Order, order.id, populate_existing=True)).completion_disputed_at is None
    assert (await session.execute(select(DeskThread))).first() is None


async def test_only_the_person_asked_can_answer(session):
    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    await _done_order(session, place, provider, requested_by_channel="telegram", requested_by_key="100")
    clock.advance(timedelta(days=1))
    await surveys.send_due(session)
    survey = (await session.execute(Survey.__table__.select())).one()
    with pytest.raises(PermissionDenied):
        await surveys.answer(session, survey_id=survey.id, score=5, channel="telegram", user_key="999")


async def test_after_the_score_the_person_may_leave_a_comment_in_the_chat(session):
    from bot import core

    core.load_flows()
    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    await _done_order(session, place, provider, requested_by_channel="telegram", requested_by_key="100")
    clock.advance(timedelta(days=1))
    await surveys.send_due(session)
    survey = (await session.execute(Survey.__table__.select())).one()
    state, replies = await core.step(
        session, {}, Incoming(channel="telegram", user_key="100", kind="callback", data=f"sv:{survey.id}:2")
    )
    texts = [r.text for r in replies]
    assert "고맙습니다" in texts[0] and len(texts) >= 2  # thanks, then the optional comment question
    state, replies = await core.step(
        session, state, Incoming(channel="telegram", user_key="100", kind="text", text="배달이 늦었어요")
    )
    stored = await session.get(Survey, survey.id, populate_existing=True)
    assert stored.score == 2 and stored.comment == "배달이 늦었어요"


async def test_a_referred_resident_with_her_own_account_is_asked_herself_not_the_care_manager(session):
    from storage.models import Referral
    from tests.jobs.helpers import add_care_manager, resident_with_chat

    clock.set_now(seoul(2026, 11, 23, 15, 0))
    place = await factories.make_district(session)
    provider = await factories.make_provider(session, place)
    manager = await add_care_manager(session, place, "cm")
    her = await resident_with_chat(session, place, "her")
    referral = Referral(care_manager_id=manager.id, resident_id=her.id)
    session.add(referral)
    await session.flush()
    order = await factories.make_order(session, her, referral_id=referral.id, source="care_manager")
    for step in ("screen", "assign", "accept", "start", "complete"):
        kw = {"order_id": order.id, "actor": DESK}
        if step in ("assign", "accept"):
            kw["provider_id"] = provider.id
        if step == "complete":
            kw["delivered_units"] = order.units
        await getattr(orders, step)(session, **kw)
    clock.advance(timedelta(days=1))
    assert await surveys.send_due(session) == 1
    assert [m.kind for m in await outbox_to(session, "her") if m.kind == "survey"] == ["survey"]
    assert [m.kind for m in await outbox_to(session, "cm") if m.kind == "survey"] == []
