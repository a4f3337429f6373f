"""Satisfaction surveys one day after completion; the scores feed the provider's figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import callbacks
from bot.actions import survey as survey_action  # noqa: F401 - registers "sv"
from bot.messages import Incoming
from care import orders, surveys
from dolbom import clock
from dolbom.errors import PermissionDenied
from storage.models import Survey
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


async def test_asked_one_day_after_completion_and_scores_feed_the_provider(session):
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
    [question] = await outbox_to(session, "100")
    assert "만족하셨나요" in question.text
    survey = (await session.execute(Survey.__table__.select())).one()
    assert question.buttons == [[{"text": str(n), "data": f"sv:{survey.id}:{n}"} for n in range(1, 6)]]

    handler, payload = callbacks.find(f"sv:{survey.id}:4")
    replies = await handler(session, Incoming(channel="telegram", user_key="100", kind="callback"), payload)
    assert "고맙습니다" in replies[0].text
    await surveys.add_comment(session, survey_id=survey.id, comment="친절했어요", channel="telegram", user_key="100")
    scores = await surveys.provider_scores(session, district_id=place.district_id)
    assert scores[good.id].average == 4.0 and scores[good.id].answers == 1
    stored = await session.get(Survey, survey.id)
    assert stored.comment == "친절했어요" and stored.order_id == order.id


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
