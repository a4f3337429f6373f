"""The month's settlement (정산) per provider: delivered units × unit price of done orders.

Only completed orders count, with the units actually delivered (18 of 20 meals pays 18). A no-show
(무단결석) is not billed unless the catalog sets a no-show rule for the service and year: then it
bills that many units, on a line flagged no_show.
Who pays is the order's entitlement-ledger entry (care.entitlements): priced at the service
year's price, public support only under the desk's eligibility decision valid on the service day
(eligible AND 수급/차상위), within that year's annual limit, the excess paid by the resident only
with their recorded consent. An order without an entry (assigned before the ledger) is split the
same way here, oldest completion first. Lines that need the desk's eye carry flags.
Integer 원 throughout.

A closed month (마감, care.closing) is read from the lines frozen when it closed, so it never
changes; a correction afterwards is an adjustment line paid in the next open month, referring to
the month and visit it corrects. A provider's month totals include its adjustment lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import entitlements, fees, months, prices
from care.auth import Access
from care.fees import Price
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import InvalidInput
from dolbom.i18n import N_
from storage.models import (
    Assignment,
    District,
    Dong,
    EligibilityDecision,
    EntitlementEntry,
    Order,
    Provider,
    Region,
    Resident,
    SettlementAdjustment,
    SettlementClose,
    SettlementClosedLine,
    Visit,
)


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
    # undecided (no eligibility decision on the service day), self_paid, pay_excess (cap or limit passed)
    flags: tuple[str, ...] = ()
    visit_id: int | None = None  # None: an order completed without recorded visits

    @property
    def day(self) -> date:
        """Return the service day (Asia/Seoul)."""
        return self.completed_at.astimezone(clock.zone()).date()


@dataclass(frozen=True)
class AdjustmentLine:
    """A correction of a closed month, paid in this month: differences in units and 원 (negative: less)."""

    adjustment_id: int
    day: date  # when the correction was made
    original_month: str  # 'YYYY-MM', the closed month corrected
    order_id: int
    receipt_no: str
    visit_id: int | None
    resident_id: int
    service_code: str
    units: int
    unit_price: int
    total: int
    public: int
    resident: int
    reason: str


@dataclass
class ProviderSettlement:
    """A provider's month: its lines and their sums in 원."""

    provider_id: int
    provider_name: str
    lines: list[SettlementLine] = field(default_factory=list)
    adjustments: list[AdjustmentLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines) + sum(a.total for a in self.adjustments)

    @property
    def public(self) -> int:
        return sum(line.public for line in self.lines) + sum(a.public for a in self.adjustments)

    @property
    def resident(self) -> int:
        return sum(line.resident for line in self.lines) + sum(a.resident for a in self.adjustments)

    @property
    def units(self) -> int:
        return sum(line.units for line in self.lines) + sum(a.units for a in self.adjustments)


def _local_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=clock.zone())


# A year's walk makes one of these per visit (tens of thousands): slotted, and not frozen, whose
# __init__ would set each field through object.__setattr__.
@dataclass(slots=True)
class _OrderRef:
    """What the settlement walk reads of an order (columns, not an ORM object: a year holds tens of thousands)."""

    id: int
    receipt_no: str
    resident_id: int
    service_code: str


@dataclass(slots=True)
class _Event:
    """Units billable on one day: a recorded visit, or a whole completion for an order without visits."""

    order: _OrderRef
    day: date
    units: int
    provider_id: int | None
    at: datetime
    visit_id: int | None = None
    no_show: bool = False  # units are the catalog's no-show rule of the day's year (0: not billed)


_ORDER_REF = (col(Order.id), col(Order.receipt_no), col(Order.resident_id), col(Order.service_code))


def _visits_of(*, district_id: int, first: date, last: date) -> Any:
    """Return the query of the billable visits (delivered, no-show) of the district's days first..last."""
    return select(col(Visit.order_id)).where(
        col(Visit.district_id) == district_id,
        col(Visit.kind).in_(("delivered", "no_show")),
        col(Visit.day) >= first,
        col(Visit.day) <= last,
    )


def _done_without_visits(*, district_id: int, year_start: datetime, end: datetime) -> Any:
    """Return the query of the district's orders completed in the range without any recorded visit."""
    return select(col(Order.id)).where(
        col(Order.district_id) == district_id,
        col(Order.status) == Status.DONE.value,
        col(Order.status_changed_at) >= year_start,
        col(Order.status_changed_at) < end,
        ~select(col(Visit.id)).where(col(Visit.order_id) == col(Order.id)).exists(),
    )


async def _events(session: AsyncSession, *, district_id: int, year_start: datetime, end: datetime) -> list[_Event]:
    first, last = year_start.date(), (end - timedelta(days=1)).date()
    events: list[_Event] = []
    visits = (
        _visits_of(district_id=district_id, first=first, last=last)
        .with_only_columns(
            col(Visit.id), col(Visit.day), col(Visit.units), col(Visit.kind), col(Visit.provider_id), *_ORDER_REF
        )
        .join(Order, col(Order.id) == col(Visit.order_id))
        .where(col(Order.status).not_in((Status.CANCELLED.value, Status.REJECTED.value)))
        .order_by(col(Visit.order_id), col(Visit.id))
    )
    zone = clock.zone()
    for visit_id, day, units, kind, provider_id, *ref in (await session.execute(visits)).all():
        moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        no_show = kind == "no_show"
        events.append(_Event(_OrderRef(*ref), day, 0 if no_show else units, provider_id, moment, visit_id, no_show))
    # Orders completed without any recorded visit: the completion is the one billable event, paid to
    # the provider of its (last) done assignment.
    owner = (
        select(col(Assignment.provider_id))
        .where(col(Assignment.order_id) == col(Order.id), col(Assignment.status) == "done")
        .order_by(col(Assignment.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    done = _done_without_visits(district_id=district_id, year_start=year_start, end=end).with_only_columns(
        col(Order.delivered_units), col(Order.units), col(Order.status_changed_at), owner, *_ORDER_REF
    )
    for delivered, planned, changed, provider_id, *ref in (await session.execute(done)).all():
        units = delivered if delivered is not None else planned
        day = changed.astimezone(zone).date()
        events.append(_Event(_OrderRef(*ref), day, units, provider_id, changed))
    events.sort(key=lambda e: (e.at, e.order.id))
    return events


async def monthly(session: AsyncSession, *, district_id: int, year: int, month: int) -> list[ProviderSettlement]:
    """Return each provider's settlement for a month (Asia/Seoul) with the adjustments paid in it, by provider name.

    A closed month is the lines frozen when it closed; an open month is computed from the records.
    """
    if not 1 <= month <= 12:
        raise InvalidInput(N_("That answer could not be understood."))
    close = await months.get_close(session, district_id=district_id, year=year, month=month)
    if close is not None:
        result = await _frozen(session, close=close)
    else:
        result = {p.provider_id: p for p in await compute(session, district_id=district_id, year=year, month=month)}
    for provider_id, line in await _adjustments(session, district_id=district_id, year=year, month=month):
        key = provider_id or 0
        if key not in result:
            provider = await session.get(Provider, provider_id) if provider_id else None
            result[key] = ProviderSettlement(provider_id=key, provider_name=provider.name if provider else "")
        result[key].adjustments.append(line)
    return sorted(result.values(), key=lambda s: (s.provider_name, s.provider_id))


async def _frozen(session: AsyncSession, *, close: SettlementClose) -> dict[int, ProviderSettlement]:
    result: dict[int, ProviderSettlement] = {}
    rows = await session.execute(
        select(SettlementClosedLine)
        .where(col(SettlementClosedLine.close_id) == close.id)
        .order_by(col(SettlementClosedLine.id))
    )
    for row in rows.scalars():
        if row.provider_id not in result:
            result[row.provider_id] = ProviderSettlement(provider_id=row.provider_id, provider_name=row.provider_name)
        result[row.provider_id].lines.append(
            SettlementLine(
                order_id=row.order_id,
                receipt_no=row.receipt_no,
                resident_id=row.resident_id,
                service_code=row.service_code,
                units=row.units,
                unit_price=row.unit_price,
                total=row.total,
                public=row.public,
                resident=row.resident,
                completed_at=datetime(row.day.year, row.day.month, row.day.day, tzinfo=clock.zone()),
                flags=tuple(row.flags),
                visit_id=row.visit_id,
            )
        )
    return result


async def _adjustments(
    session: AsyncSession, *, district_id: int, year: int, month: int
) -> list[tuple[int | None, AdjustmentLine]]:
    rows = await session.execute(
        select(SettlementAdjustment, col(Order.receipt_no))
        .join(Order, col(Order.id) == col(SettlementAdjustment.order_id))
        .where(
            col(SettlementAdjustment.district_id) == district_id,
            col(SettlementAdjustment.year) == year,
            col(SettlementAdjustment.month) == month,
        )
        .order_by(col(SettlementAdjustment.id))
    )
    result: list[tuple[int | None, AdjustmentLine]] = []
    for adj, receipt_no in rows.all():
        assert adj.id is not None
        result.append(
            (
                adj.provider_id,
                AdjustmentLine(
                    adjustment_id=adj.id,
                    day=adj.day,
                    original_month=months.label(adj.original_year, adj.original_month),
                    order_id=adj.order_id,
                    receipt_no=receipt_no,
                    visit_id=adj.visit_id,
                    resident_id=adj.resident_id,
                    service_code=adj.service_code,
                    units=adj.units,
                    unit_price=adj.unit_price,
                    total=adj.total,
                    public=adj.public,
                    resident=adj.resident,
                    reason=adj.reason,
                ),
            )
        )
    return result


def _event_orders(*, district_id: int, year_start: datetime, end: datetime) -> Any:
    """Return the query of the ids of every order `_events` reads (a subquery: no list of ids to send)."""
    first, last = year_start.date(), (end - timedelta(days=1)).date()
    return union(
        _visits_of(district_id=district_id, first=first, last=last),
        _done_without_visits(district_id=district_id, year_start=year_start, end=end),
    )


async def _entries(session: AsyncSession, *, orders: Any) -> dict[int, EntitlementEntry]:
    query = select(EntitlementEntry).where(col(EntitlementEntry.order_id).in_(orders))
    return {e.order_id: e for e in (await session.execute(query)).scalars()}


async def _decisions(session: AsyncSession, *, orders: Any) -> dict[int, list[EligibilityDecision]]:
    """Return each resident's decisions newest first (as entitlements.list_decisions orders them)."""
    found: dict[int, list[EligibilityDecision]] = {}
    residents = select(col(Order.resident_id)).where(col(Order.id).in_(orders))
    query = (
        select(EligibilityDecision)
        .where(col(EligibilityDecision.resident_id).in_(residents))
        .order_by(col(EligibilityDecision.decided_at).desc(), col(EligibilityDecision.id).desc())
    )
    for d in (await session.execute(query)).scalars():
        found.setdefault(d.resident_id, []).append(d)
    return found


async def compute(session: AsyncSession, *, district_id: int, year: int, month: int) -> list[ProviderSettlement]:
    """Return each provider's month as the records say now (closed or not), without adjustments.

    Billable units are the visits of the month by their date (an order over November and December
    is paid in both); an order completed without recorded visits counts on its completion day.
    Support runs through the year in date order: the annual limit and the caps of the service year.
    """
    if not 1 <= month <= 12:
        raise InvalidInput(N_("That answer could not be understood."))
    start = _local_start(year, month)
    end = _local_start(year + (month == 12), month % 12 + 1)
    year_start = _local_start(year, 1)
    price_cache: dict[tuple[int, str], Price] = {}
    limit_cache: dict[int, int] = {}
    supported: dict[tuple[int, int], int] = {}
    capped: dict[tuple[int, int, str], int] = {}
    result: dict[int, ProviderSettlement] = {}
    events = await _events(session, district_id=district_id, year_start=year_start, end=end)
    # Every entry and decision the walk needs, read once (not two queries per visit).
    read = _event_orders(district_id=district_id, year_start=year_start, end=end).subquery()
    entries = await _entries(session, orders=select(read.c[0])) if events else {}
    decisions = await _decisions(session, orders=select(read.c[0])) if events else {}
    for ev in events:
        order = ev.order
        assert order.id is not None
        code, day = order.service_code, ev.day
        if (day.year, code) not in price_cache:
            price_cache[(day.year, code)] = await prices.get(
                session, district_id=district_id, year=day.year, service_code=code
            )
        if day.year not in limit_cache:
            limit_cache[day.year] = await prices.get_annual_limit(session, district_id=district_id, year=day.year)
        price = price_cache[(day.year, code)]
        units = price.no_show_units if ev.no_show else ev.units
        if ev.no_show and units == 0:
            continue  # a no-show is not billed unless the catalog sets a rule for the service
        total = fees.amount(units=units, unit_price=price.unit_price)
        entry = entries.get(order.id)
        funding = entry.funding if entry is not None else "public"
        support = entitlements.support_of(entitlements.in_force(decisions.get(order.resident_id, []), day=day))
        flags: list[str] = ["no_show"] if ev.no_show else []
        if support is entitlements.Support.UNDECIDED:
            flags.append("undecided")
        if funding != "public":
            flags.append(funding)
        key = (order.resident_id, day.year)
        cap_key = (order.resident_id, day.year, code)
        used = capped.get(cap_key, 0)
        capped[cap_key] = used + units
        if support is entitlements.Support.SUPPORTED and funding != "self_paid":
            covered = units if price.cap_units is None else max(0, min(units, price.cap_units - used))
            left = max(limit_cache[day.year] - supported.get(key, 0), 0)
            public = min(fees.amount(units=covered, unit_price=price.unit_price), left)
        else:
            public = 0
        if support is entitlements.Support.SUPPORTED and public < total and funding == "public":
            flags.append("over_without_consent")
        supported[key] = supported.get(key, 0) + public
        if ev.at < start or ev.provider_id is None:
            continue
        if ev.provider_id not in result:
            provider = await session.get(Provider, ev.provider_id)
            result[ev.provider_id] = ProviderSettlement(
                provider_id=ev.provider_id, provider_name=provider.name if provider else ""
            )
        result[ev.provider_id].lines.append(
            SettlementLine(
                order_id=order.id,
                receipt_no=order.receipt_no,
                resident_id=order.resident_id,
                service_code=code,
                units=units,
                unit_price=price.unit_price,
                total=total,
                public=public,
                resident=total - public,
                completed_at=ev.at,
                flags=tuple(flags),
                visit_id=ev.visit_id,
            )
        )
    return sorted(result.values(), key=lambda s: (s.provider_name, s.provider_id))


async def month_for(
    session: AsyncSession, *, access: Access, year: int, month: int, provider_id: int | None = None
) -> list[ProviderSettlement]:
    """Return the month's settlement of the operator's district (every district for an all-district admin).

    provider_id narrows it to one provider; the residents shown are written to the access log.
    """
    if access.district_id is not None:
        district_ids = [access.district_id]
    else:
        district_ids = list((await session.execute(select(District.id).order_by(col(District.id)))).scalars())
    result: list[ProviderSettlement] = []
    for district_id in district_ids:
        if district_id is None:
            continue
        for p in await monthly(session, district_id=district_id, year=year, month=month):
            if provider_id is None or p.provider_id == provider_id:
                result.append(p)
    await access.log(session, action="settlement_view", resident_ids=residents_of(result) or None,
                     detail=f"{year}-{month:02d}")  # fmt: skip
    return result


def residents_of(providers: list[ProviderSettlement]) -> list[int]:
    """Return every resident the month's lines and adjustments name."""
    ids = {line.resident_id for p in providers for line in p.lines}
    ids |= {a.resident_id for p in providers for a in p.adjustments}
    return sorted(ids)


async def closes_for(session: AsyncSession, *, access: Access, year: int, month: int) -> list[SettlementClose]:
    """Return the month's closes (마감) the operator may see: one per district that closed it."""
    query = select(SettlementClose).where(col(SettlementClose.year) == year, col(SettlementClose.month) == month)
    if access.district_id is not None:
        query = query.where(col(SettlementClose.district_id) == access.district_id)
    return list((await session.execute(query.order_by(col(SettlementClose.district_id)))).scalars())


@dataclass(frozen=True)
class Subtotal:
    """The month's sums for one service, 동 or 권역 (lines and adjustments)."""

    key: str  # service code, or the 동 / 권역 name ("" when the resident has none)
    units: int
    total: int
    public: int
    resident: int


async def breakdown(session: AsyncSession, months: list[ProviderSettlement]) -> dict[str, list[Subtotal]]:
    """Return the month's totals per service, per 동 and per 권역 (the resident's 동 as recorded now)."""
    items: list[tuple[int, str, int, int, int, int]] = []
    for p in months:
        every: list[SettlementLine | AdjustmentLine] = [*p.lines, *p.adjustments]
        items += [(x.resident_id, x.service_code, x.units, x.total, x.public, x.resident) for x in every]
    ids = sorted({i[0] for i in items})
    place: dict[int, tuple[str, str]] = {}
    if ids:
        rows = await session.execute(
            select(col(Resident.id), col(Dong.name), col(Region.name))
            .select_from(Resident)
            .join(Dong, col(Dong.id) == col(Resident.dong_id), isouter=True)
            .join(Region, col(Region.id) == col(Dong.region_id), isouter=True)
            .where(col(Resident.id).in_(ids))
        )
        place = {rid: (dong or "", region or "") for rid, dong, region in rows.all() if rid is not None}
    result: dict[str, list[Subtotal]] = {}
    for name, key_of in (
        ("service", lambda i: i[1]),
        ("dong", lambda i: place.get(i[0], ("", ""))[0]),
        ("region", lambda i: place.get(i[0], ("", ""))[1]),
    ):
        sums: dict[str, list[int]] = {}
        for i in items:
            acc = sums.setdefault(key_of(i), [0, 0, 0, 0])
            for n, amount in enumerate(i[2:]):
                acc[n] += amount
        result[name] = [Subtotal(k, *v) for k, v in sorted(sums.items())]
    return result


def as_json(
    months: list[ProviderSettlement],
    *,
    year: int,
    month: int,
    closes: list[SettlementClose] | None = None,
    subtotals: dict[str, list[Subtotal]] | None = None,
) -> dict[str, object]:
    """Return the month as the JSON API gives it: closed or not, providers, lines, adjustments and totals in 원."""
    closes = closes or []
    return {
        "month": f"{year}-{month:02d}",
        "by": {
            name: [
                {"key": x.key, "units": x.units, "total": x.total, "public": x.public, "resident": x.resident}
                for x in rows
            ]
            for name, rows in (subtotals or {}).items()
        },
        "closed": bool(closes),
        "closes": [
            {"district_id": c.district_id, "closed_at": c.closed_at.isoformat(), "closed_by": c.closed_by_name}
            for c in closes
        ],
        "total": sum(p.total for p in months),
        "public": sum(p.public for p in months),
        "resident": sum(p.resident for p in months),
        "adjustments_total": sum(a.total for p in months for a in p.adjustments),
        "adjustments_public": sum(a.public for p in months for a in p.adjustments),
        "adjustments_resident": sum(a.resident for p in months for a in p.adjustments),
        "providers": [
            {
                "provider_id": p.provider_id,
                "provider_name": p.provider_name,
                "units": p.units,
                "total": p.total,
                "public": p.public,
                "resident": p.resident,
                "lines": [
                    {
                        "order_id": line.order_id,
                        "receipt_no": line.receipt_no,
                        "resident_id": line.resident_id,
                        "service_code": line.service_code,
                        "units": line.units,
                        "unit_price": line.unit_price,
                        "total": line.total,
                        "public": line.public,
                        "resident": line.resident,
                        "completed_at": line.completed_at.isoformat(),
                        "day": line.day.isoformat(),
                        "visit_id": line.visit_id,
                        "flags": list(line.flags),
                    }
                    for line in p.lines
                ],
                "adjustments": [
                    {
                        "adjustment_id": a.adjustment_id,
                        "day": a.day.isoformat(),
                        "original_month": a.original_month,
                        "order_id": a.order_id,
                        "receipt_no": a.receipt_no,
                        "visit_id": a.visit_id,
                        "resident_id": a.resident_id,
                        "service_code": a.service_code,
                        "units": a.units,
                        "unit_price": a.unit_price,
                        "total": a.total,
                        "public": a.public,
                        "resident": a.resident,
                        "reason": a.reason,
                    }
                    for a in p.adjustments
                ],
            }
            for p in months
        ],
    }


def parse_month(text: str | None) -> tuple[int, int]:
    """Return (year, month) of 'YYYY-MM' (this month when empty); raise InvalidInput otherwise."""
    if not text:
        today = clock.local_now()
        return today.year, today.month
    try:
        year_s, month_s = text.strip().split("-")
        year, month = int(year_s), int(month_s)
    except ValueError:
        raise InvalidInput(N_("Please give the month as YYYY-MM.")) from None
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise InvalidInput(N_("Please give the month as YYYY-MM."))
    return year, month
