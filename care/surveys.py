"""Satisfaction surveys (만족도 조사): asked one day after an order is done; scores feed provider figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import labels
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
    Referral,
    ResidentChannel,
    Survey,
)

QUESTION = N_("Were you satisfied with the service '{service}'? Please choose a score from 1 (not at all) to 5 (very).")
THANKS = N_("Thank you for your answer. It helps us make the service better.")
SCORE_LABELS = ("1", "2", "3", "4", "5")
# Orders completed longer ago than this are not asked any more (e.g. when the jobs first start).
ASK_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class ProviderScore:
    provider_id: int
    average: float
    answers: int


def _buttons(survey_id: int) -> list[list[dict[str, str]]]:
    return [[{"text": label, "data": f"sv:{survey_id}:{label}"} for label in SCORE_LABELS]]


async def _recipient(session: AsyncSession, order: Order) -> tuple[str, str] | None:
    """Return (channel, chat) of who asked for the order: requester, else the referrer, else the resident."""
    if order.requested_by_channel and order.requested_by_key:
        return order.requested_by_channel, order.requested_by_key
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
    result2 = await session.execute(
        select(col(ResidentChannel.channel), col(ResidentChannel.user_key))
        .where(
            col(ResidentChannel.resident_id) == order.resident_id,
            col(ResidentChannel.reachable).is_(True),
            # Only the resident's verified account: a chat that typed their name is not them.
            col(ResidentChannel.verified_at).is_not(None),
        )
        .limit(1)
    )
    row2 = result2.first()
    return (row2[0], row2[1]) if row2 is not None else None


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
                text=gettext(QUESTION, None, service=labels.label(labels.SERVICE, order.service_code)),
                buttons=_buttons(survey.id),
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
