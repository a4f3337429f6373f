"""Data access for orders, their history and assignments."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.db import lock_row
from storage.models import Assignment, Order, OrderHistory, Resident


async def get(session: AsyncSession, order_id: int) -> Order | None:
    """Return the order or None."""
    return await session.get(Order, order_id, populate_existing=True)


async def get_by_receipt(session: AsyncSession, receipt_no: str) -> Order | None:
    """Return the order with this receipt number or None."""
    result = await session.execute(select(Order).where(col(Order.receipt_no) == receipt_no))
    return result.scalar_one_or_none()


async def new_receipt_no(session: AsyncSession, *, yymm: str) -> str:
    """Return an unused receipt number like 2611-04827: short, digits only, easy to read aloud."""
    for _ in range(20):
        candidate = f"{yymm}-{secrets.randbelow(100_000):05d}"
        if await get_by_receipt(session, candidate) is None:
            return candidate
    raise RuntimeError("no free receipt number after 20 tries")


async def update_versioned(
    session: AsyncSession, *, order_id: int, expected_version: int, values: dict[str, Any]
) -> bool:
    """Apply values when the order is still at expected_version; return False when it is not."""
    result = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.version) == expected_version)
        .values(version=Order.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult at run time


async def list_history(session: AsyncSession, order_id: int) -> list[OrderHistory]:
    """Return an order's history, oldest first."""
    result = await session.execute(
        select(OrderHistory).where(col(OrderHistory.order_id) == order_id).order_by(col(OrderHistory.id))
    )
    return list(result.scalars())


async def current_assignment(session: AsyncSession, order_id: int) -> Assignment | None:
    """Return the order's pending or accepted assignment, if any."""
    result = await session.execute(
        select(Assignment)
        .where(col(Assignment.order_id) == order_id, col(Assignment.status).in_(["pending", "accepted"]))
        .order_by(col(Assignment.id).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def list_assignments(session: AsyncSession, order_id: int) -> list[Assignment]:
    """Return every assignment of an order, oldest first."""
    result = await session.execute(
        select(Assignment).where(col(Assignment.order_id) == order_id).order_by(col(Assignment.id))
    )
    return list(result.scalars())


async def provider_load(session: AsyncSession, *, since: datetime, provider_ids: list[int]) -> dict[int, int]:
    """Return the number of live assignments per provider made since a moment."""
    if not provider_ids:
        return {}
    result = await session.execute(
        select(Assignment.provider_id, func.count())
        .where(
            col(Assignment.provider_id).in_(provider_ids),
            col(Assignment.assigned_at) >= since,
            col(Assignment.status).in_(["pending", "accepted", "done"]),
        )
        .group_by(col(Assignment.provider_id))
    )
    return {pid: n for pid, n in result.all()}


async def used_units(session: AsyncSession, *, resident_id: int, service_code: str, statuses: list[str]) -> int:
    """Return the units of a service a resident has in orders of the given statuses."""
    units = func.coalesce(Order.delivered_units, Order.units)
    result = await session.execute(
        select(func.coalesce(func.sum(units), 0)).where(
            col(Order.resident_id) == resident_id,
            col(Order.service_code) == service_code,
            col(Order.status).in_(statuses),
        )
    )
    return int(result.scalar_one())


async def lock_resident_units(session: AsyncSession, *, resident_id: int) -> None:
    """Hold the resident's row until the transaction ends, so counting their units then writing is one step.

    A second completion waits, then counts the first's units (storage.db.lock_row).
    """
    await lock_row(session, Resident, resident_id)
