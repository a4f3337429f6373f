"""마감: closing a district's month of settlement, and corrections after it as dated adjustment lines.

Closing freezes the month's lines (settlement_closed_lines) as they are paid; the month is then
read from them and never changes. Two operators closing at once close once: the close takes the
district's month lock exclusively and checks again under it (the unique (district, year, month)
is the last guard).

A correction (a visit's units or a no-show, an order's delivered units) changes the record with
what was first recorded kept. When it touches a closed month, the difference between what the
records now say and what was paid for that month (its frozen lines and earlier adjustments) is
written as adjustment lines in the next open month, dated and referring to the original month,
order and visit. The annual limit runs through the year, so later closed months of that year are
compared too. Integer 원 throughout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import entitlements, months, settlement, visits
from care.auth import Access
from care.lifecycle import Status
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from storage import orders as order_store
from storage.models import (
    Operator,
    Order,
    OrderHistory,
    SettlementAdjustment,
    SettlementClose,
    SettlementClosedLine,
    Visit,
)


class AlreadyClosed(RuleViolation):
    msgid = N_("The settlement of {month} is closed already.")

    def __init__(self, *, month: str) -> None:
        super().__init__(month=month)


async def _operator_name(session: AsyncSession, access: Access) -> str | None:
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    return (operator.display_name or operator.username) if operator else access.username


def _district(access: Access, district_id: int | None) -> int:
    if access.district_id is not None:
        return access.district_id
    if district_id is None:
        raise InvalidInput(N_("Choose the district."))
    return district_id


async def close(
    session: AsyncSession, *, access: Access, year: int, month: int, district_id: int | None = None
) -> SettlementClose:
    """Close the district's month (마감): freeze its lines and sums; raise AlreadyClosed on a second close."""
    access.check_writer()
    district = _district(access, district_id)
    if not 1 <= month <= 12:
        raise InvalidInput(N_("Please give the month as YYYY-MM."))
    today = clock.local_now().date()
    if (today.year, today.month) <= (year, month):
        raise RuleViolation(N_("A month can be closed only after it has ended."))
    await months.lock(session, district_id=district, exclusive=True)
    if await months.get_close(session, district_id=district, year=year, month=month) is not None:
        raise AlreadyClosed(month=months.label(year, month))
    providers = await settlement.monthly(session, district_id=district, year=year, month=month)
    row = SettlementClose(
        district_id=district,
        year=year,
        month=month,
        closed_by=access.operator_id,
        closed_by_name=await _operator_name(session, access),
        total=sum(p.total for p in providers),
        public=sum(p.public for p in providers),
        resident=sum(p.resident for p in providers),
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    for p in providers:
        for line in p.lines:
            session.add(
                SettlementClosedLine(
                    close_id=row.id,
                    district_id=district,
                    provider_id=p.provider_id,
                    provider_name=p.provider_name,
                    order_id=line.order_id,
                    visit_id=line.visit_id,
                    receipt_no=line.receipt_no,
                    resident_id=line.resident_id,
                    service_code=line.service_code,
                    day=line.day,
                    units=line.units,
                    unit_price=line.unit_price,
                    total=line.total,
                    public=line.public,
                    resident=line.resident,
                    flags=list(line.flags),
                )
            )
    await session.flush()
    await access.log(
        session,
        action="settlement_close",
        resident_ids=settlement.residents_of(providers) or None,
        detail=f"{months.label(year, month)} · {row.total}/{row.public}/{row.resident}",
    )
    return row


# ------------------------------------------------------------------ corrections


@dataclass(frozen=True)
class Correction:
    """What a correction changed: the adjustment lines it wrote (none when every month touched was open)."""

    adjustments: list[SettlementAdjustment]


def _key(line: settlement.SettlementLine | settlement.AdjustmentLine, provider_id: int) -> tuple[int, int]:
    return (line.order_id, provider_id)


async def _paid(
    session: AsyncSession, *, district_id: int, resident_id: int, year: int, month: int
) -> dict[tuple[int, int], list[int]]:
    """Return what was paid for the resident's closed month: frozen lines plus earlier adjustments of it."""
    paid: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    close = await months.get_close(session, district_id=district_id, year=year, month=month)
    assert close is not None
    for line in (
        await session.execute(
            select(SettlementClosedLine).where(
                col(SettlementClosedLine.close_id) == close.id, col(SettlementClosedLine.resident_id) == resident_id
            )
        )
    ).scalars():
        _add(paid[(line.order_id, line.provider_id)], line.units, line.total, line.public, line.resident)
    for adj in (
        await session.execute(
            select(SettlementAdjustment).where(
                col(SettlementAdjustment.district_id) == district_id,
                col(SettlementAdjustment.resident_id) == resident_id,
                col(SettlementAdjustment.original_year) == year,
                col(SettlementAdjustment.original_month) == month,
            )
        )
    ).scalars():
        _add(paid[(adj.order_id, adj.provider_id or 0)], adj.units, adj.total, adj.public, adj.resident)
    return paid


def _add(sums: list[int], units: int, total: int, public: int, resident: int) -> None:
    sums[0] += units
    sums[1] += total
    sums[2] += public
    sums[3] += resident


async def _adjust(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int,
    resident_id: int,
    since: tuple[int, int],
    reason: str,
    visit: Visit | None,
) -> list[SettlementAdjustment]:
    """Write the differences of the resident's closed months (of since's year, from since on) as adjustments."""
    closed = sorted(m for m in await months.closed_months(session, district_id=district_id) if m[0] == since[0])
    written: list[SettlementAdjustment] = []
    name = await _operator_name(session, access)
    today = clock.local_now().date()
    for year, month in (m for m in closed if m >= since):
        now: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        about: dict[tuple[int, int], settlement.SettlementLine] = {}
        for p in await settlement.compute(session, district_id=district_id, year=year, month=month):
            for line in p.lines:
                if line.resident_id == resident_id:
                    _add(now[_key(line, p.provider_id)], line.units, line.total, line.public, line.resident)
                    about[_key(line, p.provider_id)] = line
        paid = await _paid(session, district_id=district_id, resident_id=resident_id, year=year, month=month)
        target = await months.next_open(session, district_id=district_id, after=(year, month))
        for key in sorted(set(now) | set(paid)):
            delta = [a - b for a, b in zip(now[key], paid[key], strict=True)]
            if not any(delta):
                continue
            order_id, provider_id = key
            order = await order_store.get(session, order_id)
            assert order is not None
            seen = about.get(key)
            unit_price = seen.unit_price if seen else (abs(delta[1]) // abs(delta[0]) if delta[0] else 0)
            adj = SettlementAdjustment(
                district_id=district_id,
                year=target[0],
                month=target[1],
                day=today,
                original_year=year,
                original_month=month,
                provider_id=provider_id or None,
                order_id=order_id,
                visit_id=visit.id if visit is not None and visit.order_id == order_id else None,
                resident_id=resident_id,
                service_code=order.service_code,
                units=delta[0],
                unit_price=unit_price,
                total=delta[1],
                public=delta[2],
                resident=delta[3],
                reason=reason,
                created_by=access.operator_id,
                created_by_name=name,
            )
            session.add(adj)
            written.append(adj)
    await session.flush()
    return written


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(N_("Please write why this is corrected."))
    return text[:500]


async def _settle_order(session: AsyncSession, *, order: Order, delivered_units: int, access: Access,
                        action_reason: str) -> None:  # fmt: skip
    """Give a completed order its corrected delivered units (and its ledger entry), with a history row."""
    assert order.id is not None
    if order.status == Status.DONE.value and order.delivered_units != delivered_units:
        if not await order_store.update_versioned(
            session,
            order_id=order.id,
            expected_version=order.version,
            values={"delivered_units": delivered_units, "updated_at": clock.now()},
        ):
            raise ConflictError()
        await session.refresh(order)
        await entitlements.settle(session, order=order, delivered_units=delivered_units)
    session.add(
        OrderHistory(
            order_id=order.id,
            action="correct",
            from_status=order.status,
            to_status=order.status,
            reason=action_reason,
            actor_kind="operator",
            actor_id=access.operator_id,
            actor_name=await _operator_name(session, access),
            channel="console",
        )
    )
    await session.flush()


async def _visible_order(session: AsyncSession, *, order_id: int, access: Access) -> Order:
    order = await order_store.get(session, order_id)
    if order is None:
        raise NotFound()
    if not access.sees(order.district_id):
        raise OutOfDistrict(what="order", thing_id=order_id, resident_id=order.resident_id)
    return order


async def correct_visit(
    session: AsyncSession, *, visit_id: int, access: Access, kind: str, units: int, reason: str | None
) -> Correction:
    """Correct a recorded visit (its units, or that it was a no-show); a closed month's change becomes adjustments.

    The first record is kept on the visit (original_units, original_kind); a completed order's
    delivered units follow the corrected visits.
    """
    access.check_writer()
    text = _reason(reason)
    visit = await session.get(Visit, visit_id)
    if visit is None:
        raise NotFound()
    order = await _visible_order(session, order_id=visit.order_id, access=access)
    if kind not in visits.KINDS:
        raise InvalidInput(N_("That answer could not be understood."))
    if kind == "no_show":
        units = 0
    elif units < 1:
        raise InvalidInput(N_("Please give at least one unit."))
    await months.lock(session, district_id=visit.district_id, exclusive=False)
    # Two corrections for one person at once: the second counts what the first wrote as paid.
    await order_store.lock_resident_units(session, resident_id=visit.resident_id)
    await session.refresh(visit)  # as the one who held the lock before us left it
    await session.refresh(order)
    before = f"{visit.kind} {visit.units}"
    if visit.corrected_at is None:
        visit.original_units, visit.original_kind = visit.units, visit.kind
    visit.units, visit.kind = units, kind
    if kind == "no_show":
        visit.reason = text
    visit.corrected_at, visit.corrected_by_name, visit.correction_reason = (
        clock.now(),
        await _operator_name(session, access),
        text,
    )
    session.add(visit)
    await session.flush()
    delivered = visits.delivered(await visits.list_for_order(session, order_id=order.id or 0))
    await _settle_order(session, order=order, delivered_units=delivered, access=access,
                        action_reason=f"{visit.day} {before} → {kind} {units}: {text}")  # fmt: skip
    written = await _adjust(
        session,
        access=access,
        district_id=visit.district_id,
        resident_id=visit.resident_id,
        since=(visit.day.year, visit.day.month),
        reason=text,
        visit=visit,
    )
    await access.log(
        session,
        action="visit_correct",
        resident_id=visit.resident_id,
        detail=f"{order.receipt_no} {visit.day} {before} → {kind} {units} · {len(written)} adjustment(s)",
    )
    return Correction(adjustments=written)


async def correct_order_units(
    session: AsyncSession, *, order_id: int, access: Access, delivered_units: int, reason: str | None
) -> Correction:
    """Correct the delivered units of an order completed without recorded visits (else correct each visit)."""
    access.check_writer()
    text = _reason(reason)
    order = await _visible_order(session, order_id=order_id, access=access)
    if order.status != Status.DONE.value:
        raise RuleViolation(N_("Only a completed order's delivered units can be corrected."))
    if await visits.list_for_order(session, order_id=order_id):
        raise RuleViolation(N_("This order has recorded visits: correct the visit instead."))
    if delivered_units < 0 or delivered_units > 10_000:
        raise InvalidInput(N_("That answer could not be understood."))
    await months.lock(session, district_id=order.district_id, exclusive=False)
    await order_store.lock_resident_units(session, resident_id=order.resident_id)
    await session.refresh(order)  # as the one who held the lock before us left it
    before = order.delivered_units
    await _settle_order(session, order=order, delivered_units=delivered_units, access=access,
                        action_reason=f"{before} → {delivered_units}: {text}")  # fmt: skip
    day = order.status_changed_at.astimezone(clock.zone()).date()
    written = await _adjust(
        session,
        access=access,
        district_id=order.district_id,
        resident_id=order.resident_id,
        since=(day.year, day.month),
        reason=text,
        visit=None,
    )
    await access.log(
        session,
        action="order_units_correct",
        resident_id=order.resident_id,
        detail=f"{order.receipt_no} {before} → {delivered_units} · {len(written)} adjustment(s)",
    )
    return Correction(adjustments=written)
