"""Which months of a district's settlement are closed (마감), and the lock that makes "check, then change" one step.

A closed month never changes: a visit cannot be recorded on one of its days, and a correction
afterwards is an adjustment line in the next open month (care.closing). Closing takes the
district's month lock exclusively; recording or correcting a visit takes it shared, so a visit
committed while a month is being closed is either in the closed month or refused, never lost.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from dolbom.errors import RuleViolation
from dolbom.i18n import N_
from storage.db import lock_row
from storage.models import District, SettlementClose


class MonthClosed(RuleViolation):
    msgid = N_(
        "The settlement of {month} is closed and cannot change. "
        "Correct the visit on the order page instead: the correction is settled in the next open month."
    )

    def __init__(self, *, month: str) -> None:
        super().__init__(month=month)


def label(year: int, month: int) -> str:
    """Return a month as the desk writes it: '2026-11'."""
    return f"{year}-{month:02d}"


def following(year: int, month: int) -> tuple[int, int]:
    """Return the month after (year, month)."""
    return (year + 1, 1) if month == 12 else (year, month + 1)


async def lock(session: AsyncSession, *, district_id: int, exclusive: bool) -> None:
    """Hold the district's month lock until the transaction ends (shared for changes, exclusive to close).

    PostgreSQL: FOR SHARE / FOR UPDATE on the district's row; SQLite: its one write lock (storage.db.lock_row).
    """
    await lock_row(session, District, district_id, shared=not exclusive)


async def get_close(session: AsyncSession, *, district_id: int, year: int, month: int) -> SettlementClose | None:
    """Return the month's close (마감), or None while it is open."""
    return (
        await session.execute(
            select(SettlementClose).where(
                col(SettlementClose.district_id) == district_id,
                col(SettlementClose.year) == year,
                col(SettlementClose.month) == month,
            )
        )
    ).scalar_one_or_none()


async def closed_months(session: AsyncSession, *, district_id: int) -> set[tuple[int, int]]:
    """Return every closed (year, month) of the district."""
    rows = await session.execute(
        select(col(SettlementClose.year), col(SettlementClose.month)).where(
            col(SettlementClose.district_id) == district_id
        )
    )
    return {(y, m) for y, m in rows.all()}


async def check_open(session: AsyncSession, *, district_id: int, day: date) -> None:
    """Raise MonthClosed when the day's month is closed; otherwise hold the month lock (shared) for the change."""
    await lock(session, district_id=district_id, exclusive=False)
    if await get_close(session, district_id=district_id, year=day.year, month=day.month) is not None:
        raise MonthClosed(month=label(day.year, day.month))


async def next_open(session: AsyncSession, *, district_id: int, after: tuple[int, int]) -> tuple[int, int]:
    """Return the first open month after a month (where a correction of it is settled)."""
    closed = await closed_months(session, district_id=district_id)
    year, month = following(*after)
    while (year, month) in closed:
        year, month = following(year, month)
    return year, month
