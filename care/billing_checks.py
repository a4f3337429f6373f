"""점검: checks against wrong billing (부정결제, seed 004), computed from the recorded visits.

Each flag names the visits it is about, so the desk can open them. This first part finds:
- a visit dated before the order's planned date (outside the plan);
- an order whose visits deliver more units than planned;
- the same resident served the same service by two providers on one day.
(Still to come: "못 받았어요" answers, death/move-out dates, weekly capacity, resolving with a note.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Order, Visit


@dataclass(frozen=True)
class Flag:
    kind: str  # outside_plan | over_plan | two_providers_one_day
    order_ids: tuple[int, ...]
    visit_ids: tuple[int, ...]
    resident_id: int
    day: date | None


async def list_flags(session: AsyncSession, *, district_id: int, first: date, last: date) -> list[Flag]:
    """Return the billing flags of a district's visits between two days (inclusive)."""
    rows = (
        await session.execute(
            select(Visit, Order)
            .join(Order, col(Order.id) == col(Visit.order_id))
            .where(
                col(Visit.district_id) == district_id,
                col(Visit.kind) == "delivered",
                col(Visit.day) >= first,
                col(Visit.day) <= last,
            )
            .order_by(col(Visit.day), col(Visit.id))
        )
    ).all()
    flags: list[Flag] = []
    delivered: dict[int, int] = {}
    orders: dict[int, Order] = {}
    visit_ids: dict[int, list[int]] = {}
    same_day: dict[tuple[int, str, date], dict[int | None, list[Visit]]] = {}
    for visit, order in rows:
        assert visit.id is not None and order.id is not None
        orders[order.id] = order
        delivered[order.id] = delivered.get(order.id, 0) + visit.units
        visit_ids.setdefault(order.id, []).append(visit.id)
        if order.requested_date is not None and visit.day < order.requested_date:
            flags.append(Flag("outside_plan", (order.id,), (visit.id,), order.resident_id, visit.day))
        key = (order.resident_id, order.service_code, visit.day)
        same_day.setdefault(key, {}).setdefault(visit.provider_id, []).append(visit)
    for order_id, units in delivered.items():
        if units > orders[order_id].units:
            flags.append(Flag("over_plan", (order_id,), tuple(visit_ids[order_id]), orders[order_id].resident_id, None))
    for (resident_id, _code, day), by_provider in same_day.items():
        if len(by_provider) > 1:
            vs = [v for group in by_provider.values() for v in group]
            flags.append(
                Flag(
                    "two_providers_one_day",
                    tuple(sorted({v.order_id for v in vs})),
                    tuple(v.id for v in vs if v.id is not None),
                    resident_id,
                    day,
                )
            )
    return flags
