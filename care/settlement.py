"""The month's settlement (정산) per provider: delivered units × unit price of done orders.

Only completed orders count, with the units actually delivered (18 of 20 meals pays 18).
Who pays follows care.fees.split: 수급/차상위 are supported up to the annual limit per person
(counting the resident's earlier completions of the year, oldest first), 일반 pays in full.
Integer 원 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import fees, prices
from care.fees import Price
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import InvalidInput
from dolbom.i18n import N_
from storage.models import Assignment, Order, Provider, Resident


@dataclass(frozen=True)
class SettlementLine:
    """One completed order as it is paid."""

    order_id: int
    receipt_no: str
    resident_id: int
    service_code: str
    units: int  # delivered
    unit_price: int
    total: int
    public: int
    resident: int
    completed_at: datetime


@dataclass
class ProviderSettlement:
    """A provider's month: its lines and their sums in 원."""

    provider_id: int
    provider_name: str
    lines: list[SettlementLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def public(self) -> int:
        return sum(line.public for line in self.lines)

    @property
    def resident(self) -> int:
        return sum(line.resident for line in self.lines)

    @property
    def units(self) -> int:
        return sum(line.units for line in self.lines)


def _local_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=clock.zone())


async def monthly(session: AsyncSession, *, district_id: int, year: int, month: int) -> list[ProviderSettlement]:
    """Return each provider's settlement for a month (Asia/Seoul), by provider name."""
    if not 1 <= month <= 12:
        raise InvalidInput(N_("That answer could not be understood."))
    start = _local_start(year, month)
    end = _local_start(year + (month == 12), month % 12 + 1)
    year_start = _local_start(year, 1)
    rows = (
        await session.execute(
            select(Order, col(Resident.income_tier))
            .join(Resident, col(Resident.id) == col(Order.resident_id))
            .where(
                col(Order.district_id) == district_id,
                col(Order.status) == Status.DONE.value,
                Order.status_changed_at >= year_start,
                Order.status_changed_at < end,
            )
            .order_by(col(Order.status_changed_at), col(Order.id))
        )
    ).all()
    in_month = [o.id for o, _ in rows if o.status_changed_at >= start]
    done_by: dict[int, int] = {}
    if in_month:
        for order_id, provider_id in (
            await session.execute(
                select(Assignment.order_id, col(Assignment.provider_id))
                .where(col(Assignment.order_id).in_(in_month), col(Assignment.status) == "done")
                .order_by(col(Assignment.id))
            )
        ).all():
            done_by[order_id] = provider_id
    annual_limit = await prices.get_annual_limit(session, district_id=district_id, year=year)
    price_cache: dict[str, Price] = {}
    supported: dict[int, int] = {}
    result: dict[int, ProviderSettlement] = {}
    for order, tier in rows:
        code = order.service_code
        if code not in price_cache:
            price_cache[code] = await prices.get(session, district_id=district_id, year=year, service_code=code)
        units = order.delivered_units if order.delivered_units is not None else order.units
        total = fees.amount(units=units, unit_price=price_cache[code].unit_price)
        fee = fees.split(
            total=total, tier=tier, annual_limit=annual_limit, supported_so_far=supported.get(order.resident_id, 0)
        )
        supported[order.resident_id] = supported.get(order.resident_id, 0) + fee.public
        owner = done_by.get(order.id) if order.id is not None else None
        if order.status_changed_at < start or owner is None:
            continue
        if owner not in result:
            provider = await session.get(Provider, owner)
            result[owner] = ProviderSettlement(provider_id=owner, provider_name=provider.name if provider else "")
        assert order.id is not None
        result[owner].lines.append(
            SettlementLine(
                order_id=order.id,
                receipt_no=order.receipt_no,
                resident_id=order.resident_id,
                service_code=code,
                units=units,
                unit_price=price_cache[code].unit_price,
                total=fee.total,
                public=fee.public,
                resident=fee.resident,
                completed_at=order.status_changed_at,
            )
        )
    return sorted(result.values(), key=lambda s: (s.provider_name, s.provider_id))
