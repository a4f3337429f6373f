"""Deadline chasers: late assignments go back to the desk, late intake is flagged on the queue."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import orders
from care.actors import SYSTEM
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import ConflictError
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage.models import Assignment, DeskNotice, Order, Provider

EXPIRED_REASON = N_("The provider did not accept by the deadline.")
EXPIRED_TITLE = N_("Assignment not accepted in time: {receipt_no} ({provider})")
INTAKE_STATUSES = (Status.RECEIVED.value, Status.SCREENING.value)


async def list_expired_assignment_ids(session: AsyncSession, *, limit: int = 200) -> list[int]:
    """Return ids of pending assignments whose deadline has passed, oldest first."""
    result = await session.execute(
        select(col(Assignment.id))
        .where(col(Assignment.status) == "pending", col(Assignment.deadline) < clock.now())
        .order_by(col(Assignment.deadline))
        .limit(limit)
    )
    return [i for i in result.scalars() if i is not None]


async def expire_assignment(session: AsyncSession, *, assignment_id: int) -> DeskNotice | None:
    """Return a late assignment's order to the desk (expired, with the reason) and tell the desk; return the notice."""
    assignment = await session.get(Assignment, assignment_id, populate_existing=True)
    if assignment is None or assignment.status != "pending" or assignment.deadline >= clock.now():
        return None
    try:
        # Only while this assignment is still the order's current one, at the version read with it:
        # the desk may have reassigned the order a moment ago, and its new provider keeps it.
        order = await orders.return_to_desk(
            session,
            order_id=assignment.order_id,
            reason=gettext(EXPIRED_REASON),
            actor=SYSTEM,
            assignment_status="expired",
            assignment_id=assignment_id,
        )
    except ConflictError:
        return None
    provider = await session.get(Provider, assignment.provider_id)
    notice = DeskNotice(
        district_id=order.district_id,
        kind="assignment_expired",
        order_id=order.id,
        title=gettext(EXPIRED_TITLE, None, receipt_no=order.receipt_no, provider=provider.name if provider else "-"),
        body=gettext(EXPIRED_REASON),
    )
    session.add(notice)
    await session.flush()
    return notice


def intake_overdue_since(now: datetime | None = None) -> datetime:
    """Return the moment before which an order still in 접수/검토 counts as overdue."""
    return (now or clock.now()) - timedelta(hours=get_settings().intake_overdue_hours)


def is_intake_overdue(order: Order, now: datetime | None = None) -> bool:
    """Return True when the order has waited in 접수 or 검토 longer than the configured time."""
    return order.status in INTAKE_STATUSES and order.status_changed_at < intake_overdue_since(now)


async def list_overdue_intake(
    session: AsyncSession, *, district_id: int | None = None, limit: int = 500
) -> list[Order]:
    """Return orders waiting in 접수 or 검토 longer than DOLBOM_INTAKE_OVERDUE_HOURS, oldest first."""
    query = select(Order).where(
        col(Order.status).in_(INTAKE_STATUSES),
        col(Order.status_changed_at) < intake_overdue_since(),
    )
    if district_id is not None:
        query = query.where(col(Order.district_id) == district_id)
    result = await session.execute(query.order_by(col(Order.status_changed_at)).limit(limit))
    return list(result.scalars())
