"""After completion: "도시락 잘 받으셨어요?" one day later, then the 1–5 score; scores feed provider figures.

The first question asks, in the service's own words (care.catalog.RECEIVED_QUESTION), whether the
help arrived: 잘 받았어요 / 일부만 받았어요 / 못 받았어요 (buttons "sr:<survey id>:all|partly|none").
"일부만" or "못 받았어요" opens a desk conversation about the order and flags the provider's
completion (Order.completion_disputed_at) for the desk to check before settlement. After
"잘 받았어요" or "일부만", the 1–5 score is asked as the second question ("sv:<survey id>:<score>").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import intake, labels
from care.catalog import RECEIVED_QUESTION
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import outbox
from storage.models import (
    Assignment,
    ChannelBinding,
    Order,
    OrderHistory,
    Referral,
    ResidentChannel,
    Survey,
)

QUESTION = N_("Were you satisfied with the service '{service}'? Please choose a score from 1 (not at all) to 5 (very).")
THANKS = N_("Thank you for your answer. It helps us make the service better.")
SCORE_LABELS = ("1", "2", "3", "4", "5")
ALL, PARTLY, NONE = "all", "partly", "none"
RECEIVED: dict[str, str] = {
    ALL: N_("I received it"),
    PARTLY: N_("Only part of it"),
    NONE: N_("I did not receive it"),
}
DISPUTED = (PARTLY, NONE)
GENERIC_QUESTION = N_("Did you get the help you asked for?")
THANKS_RECEIVED = N_("Thank you. We are glad it went well.")
SORRY_PARTLY = N_("We are sorry it was not all there. The desk will check and contact you soon.")
SORRY_NONE = N_("We are sorry you did not get it. The desk will check and contact you soon.")
DESK_NOTE = N_("After the provider reported it done, the resident answered: {answer} (receipt {receipt_no}, {service})")
# Orders completed longer ago than this are not asked any more (e.g. when the jobs first start).
ASK_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class ProviderScore:
    provider_id: int
    average: float
    answers: int


def _buttons(survey_id: int) -> list[list[dict[str, str]]]:
    return [[{"text": label, "data": f"sv:{survey_id}:{label}"} for label in SCORE_LABELS]]


def score_buttons(survey_id: int) -> list[list[dict[str, str]]]:
    """Return the 1–5 buttons of the second question, in the outbox's JSON shape."""
    return _buttons(survey_id)


def received_buttons(survey_id: int, locale: str | None = None) -> list[list[dict[str, str]]]:
    """Return the 잘 받았어요 / 일부만 받았어요 / 못 받았어요 buttons, one a row, in the outbox's JSON shape."""
    return [[{"text": gettext(label, locale), "data": f"sr:{survey_id}:{key}"}] for key, label in RECEIVED.items()]


def received_question(service_code: str, locale: str | None = None) -> str:
    """Return the first question about a service, in its own words: 도시락 잘 받으셨어요?"""
    return gettext(RECEIVED_QUESTION.get(service_code, GENERIC_QUESTION), locale)


def score_question(service_code: str, locale: str | None = None) -> str:
    """Return the second question: the 1–5 score of the service."""
    return gettext(QUESTION, locale, service=labels.label(labels.SERVICE, service_code, locale))


async def _recipient(session: AsyncSession, order: Order) -> tuple[str, str] | None:
    """Return (channel, chat) of whom to ask: who asked for the order, else the resident's verified account,
    else the referring care manager."""
    if order.requested_by_channel and order.requested_by_key:
        return order.requested_by_channel, order.requested_by_key
    result2 = await session.execute(
        select(col(ResidentChannel.channel), col(ResidentChannel.user_key))
        .where(
            col(ResidentChannel.resident_id) == order.resident_id,
            col(ResidentChannel.reachable).is_(True),
            # Only the resident's verified account: a chat that typed their name is not them.
            col(ResidentChannel.verified_at).is_not(None),
        )
        .order_by((col(ResidentChannel.channel) == "telegram").desc(), col(ResidentChannel.id))
        .limit(1)
    )
    row2 = result2.first()
    if row2 is not None:
        return row2[0], row2[1]
    if order.referral_id is not None:
        result = await session.execute(
            select(col(ChannelBinding.channel), col(ChannelBinding.user_key))
            .join(Referral, col(Referral.care_manager_id) == col(ChannelBinding.care_manager_id))
            .where(col(Referral.id) == order.referral_id, col(ChannelBinding.revoked_at).is_(None))
            .limit(1)
        )
        row = result.first()
        if row is not None:
            return row[0], row[1]
    return None


async def send_due(session: AsyncSession, *, limit: int = 200) -> int:
    """Ask about orders done a day ago (DOLBOM_SURVEY_DELAY_HOURS) that were not asked yet; return how many."""
    now = clock.now()
    due = now - timedelta(hours=get_settings().survey_delay_hours)
    asked = select(col(Survey.order_id))
    result = await session.execute(
        select(Order)
        .where(
            col(Order.status) == Status.DONE.value,
            col(Order.status_changed_at) <= due,
            col(Order.status_changed_at) > due - ASK_WITHIN,
            col(Order.id).not_in(asked),
            # Only what a provider reported done: an order the desk finished or referred itself was
            # answered there and then ("did you receive it?" would ask about nobody's delivery).
            col(Order.id).in_(select(col(Assignment.order_id)).where(col(Assignment.status) == "done")),
        )
        .order_by(col(Order.id))
        .limit(limit)
    )
    count = 0
    for order in result.scalars():
        target = await _recipient(session, order)
        survey = Survey(order_id=order.id)  # type: ignore[arg-type]
        if target is not None:
            survey.channel, survey.chat_id = target
            survey.sent_at = now
        session.add(survey)
        await session.flush()
        if target is not None:
            assert survey.id is not None
            await outbox.enqueue(
                session,
                district_id=order.district_id,
                channel=target[0],
                chat_id=target[1],
                text=received_question(order.service_code),
                buttons=received_buttons(survey.id),
                kind="survey",
                ref=f"survey:{survey.id}",
                resident_id=order.resident_id,
            )
            count += 1
    return count


async def _own(session: AsyncSession, survey_id: int, channel: str, user_key: str) -> Survey:
    survey = await session.get(Survey, survey_id, populate_existing=True)
    if survey is None:
        raise NotFound()
    if survey.channel != channel or survey.chat_id != user_key:
        raise PermissionDenied()
    return survey


async def score_question_for(session: AsyncSession, *, survey: Survey, locale: str | None = None) -> str:
    """Return the 1–5 question about the survey's order."""
    order = await session.get(Order, survey.order_id)
    return score_question(order.service_code if order is not None else "", locale)


async def answer_received(
    session: AsyncSession, *, survey_id: int, received: str, channel: str, user_key: str
) -> tuple[Survey, bool]:
    """Record whether the help arrived, from the person asked; return the survey and whether this tap counted.

    Only the first tap counts (a second one changes nothing). "일부만" / "못 받았어요" open a desk
    conversation about the order and flag the provider's completion, in this transaction.
    """
    if received not in RECEIVED:
        raise InvalidInput()
    survey = await _own(session, survey_id, channel, user_key)
    if survey.received is not None:
        return survey, False
    now = clock.now()
    # Of two taps at once (two devices, a double tap), exactly one is recorded and opens the conversation.
    won = await session.execute(
        update(Survey)
        .where(col(Survey.id) == survey_id, col(Survey.received).is_(None))
        .values(received=received, received_at=now)
        .execution_options(synchronize_session=False)
    )
    survey = await session.get(Survey, survey_id, populate_existing=True)  # type: ignore[assignment]
    assert survey is not None
    if not won.rowcount:  # type: ignore[attr-defined]
        return survey, False
    if received in DISPUTED:
        order = await session.get(Order, survey.order_id)
        assert order is not None
        await session.execute(
            update(Order)
            .where(col(Order.id) == order.id, col(Order.completion_disputed_at).is_(None))
            .values(completion_disputed_at=now)
            .execution_options(synchronize_session=False)
        )
        answer_text = gettext(RECEIVED[received])
        session.add(
            OrderHistory(
                order_id=order.id,  # type: ignore[arg-type]
                action="dispute",
                from_status=order.status,
                to_status=order.status,
                reason=answer_text,
                actor_kind="resident",
                channel=channel,
            )
        )
        await intake.post_to_desk(
            session,
            channel=channel,
            user_key=user_key,
            text=gettext(
                DESK_NOTE,
                answer=answer_text,
                receipt_no=order.receipt_no,
                service=labels.label(labels.SERVICE, order.service_code),
            ),
            reason="service_not_received",
            district_id=order.district_id,
            order_id=order.id,
            resident_id=order.resident_id,
        )
        await session.refresh(order)
    return survey, True


async def answer(session: AsyncSession, *, survey_id: int, score: int, channel: str, user_key: str) -> Survey:
    """Record a 1–5 score from the person who was asked and return the survey (a new tap replaces it)."""
    if score not in range(1, 6):
        raise InvalidInput()
    survey = await _own(session, survey_id, channel, user_key)
    survey.score = score
    survey.answered_at = clock.now()
    session.add(survey)
    await session.flush()
    return survey


async def add_comment(session: AsyncSession, *, survey_id: int, comment: str, channel: str, user_key: str) -> Survey:
    """Store the optional comment after a score and return the survey."""
    survey = await _own(session, survey_id, channel, user_key)
    survey.comment = comment.strip()[:1000] or None
    session.add(survey)
    await session.flush()
    return survey


async def provider_scores(session: AsyncSession, *, district_id: int | None = None) -> dict[int, ProviderScore]:
    """Return the average satisfaction score and number of answers per provider (who delivered the order)."""
    query = (
        select(col(Assignment.provider_id), func.avg(col(Survey.score)), func.count(col(Survey.id)))
        .join(Assignment, col(Assignment.order_id) == col(Survey.order_id))
        .join(Order, col(Order.id) == col(Survey.order_id))
        .where(col(Survey.score).is_not(None), col(Assignment.status) == "done")
        .group_by(col(Assignment.provider_id))
    )
    if district_id is not None:
        query = query.where(col(Order.district_id) == district_id)
    rows = (await session.execute(query)).all()
    return {pid: ProviderScore(provider_id=pid, average=round(float(avg), 2), answers=int(n)) for pid, avg, n in rows}
