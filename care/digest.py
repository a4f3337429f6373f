"""The daily digest to the desk: yesterday's requests, open orders, missed check-ins, late assignments.

It is written as a desk notice (kind "digest"), one per district and day, shown on the console's
notices page; writing it twice for the same day does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import checkins, lifecycle
from dolbom import clock
from dolbom.i18n import N_, gettext
from storage.models import Assignment, CheckinSlot, DeskNotice, District, Order, Resident

TITLE = N_("Daily summary for {day}")
BODY = N_(
    "New requests yesterday: {new_orders}\n"
    "Open orders now: {open_orders}\n"
    "Missed check-ins yesterday: {missed_checkins}\n"
    "Assignments not accepted in time yesterday: {late_assignments}"
)


@dataclass(frozen=True)
class Digest:
    district_id: int
    day: date
    new_orders: int
    open_orders: int
    missed_checkins: int
    late_assignments: int


async def compute(session: AsyncSession, *, district_id: int, day: date) -> Digest:
    """Return the figures of a district for a local day."""
    start = checkins.slot_time(day, 0)
    end = start + timedelta(days=1)
    new_orders = await session.scalar(
        select(func.count()).where(
            col(Order.district_id) == district_id,
            col(Order.created_at) >= start,
            col(Order.created_at) < end,
        )
    )
    open_orders = await session.scalar(
        select(func.count()).where(
            col(Order.district_id) == district_id,
            col(Order.status).in_([s.value for s in lifecycle.OPEN]),
        )
    )
    missed = await session.scalar(
        select(func.count())
        .select_from(CheckinSlot)
        .join(Resident, col(Resident.id) == col(CheckinSlot.resident_id))
        .where(
            col(Resident.district_id) == district_id,
            col(CheckinSlot.scheduled_at) >= start,
            col(CheckinSlot.scheduled_at) < end,
            col(CheckinSlot.missed_at).is_not(None),
        )
    )
    late = await session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Order, col(Order.id) == col(Assignment.order_id))
        .where(
            col(Order.district_id) == district_id,
            col(Assignment.status) == "expired",
            col(Assignment.deadline) >= start,
            col(Assignment.deadline) < end,
        )
    )
    return Digest(district_id, day, int(new_orders or 0), int(open_orders or 0), int(missed or 0), int(late or 0))


async def write_daily(session: AsyncSession, *, day: date | None = None) -> list[DeskNotice]:
    """Write yesterday's digest (or a given day's) for every district not yet done; return the new notices."""
    day = day or clock.today() - timedelta(days=1)
    written = []
    for district_id in (await session.execute(select(col(District.id)))).scalars():
        assert district_id is not None
        title = gettext(TITLE, None, day=day.isoformat())
        exists = await session.scalar(
            select(func.count()).where(
                col(DeskNotice.district_id) == district_id,
                col(DeskNotice.kind) == "digest",
                col(DeskNotice.title) == title,
            )
        )
        if exists:
            continue
        d = await compute(session, district_id=district_id, day=day)
        notice = DeskNotice(
            district_id=district_id,
            kind="digest",
            title=title,
            body=gettext(
                BODY,
                None,
                new_orders=d.new_orders,
                open_orders=d.open_orders,
                missed_checkins=d.missed_checkins,
                late_assignments=d.late_assignments,
            ),
        )
        session.add(notice)
        written.append(notice)
    await session.flush()
    return written
