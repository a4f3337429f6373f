"""점검: checks against wrong billing (부정결제, seed 004), computed from the recorded visits.

Each flag names the visits it is about, so the desk can open them, and is worked through on the
점검 page: resolved with a note (who, when). A resolution holds the flag's fingerprint (a hash of
the visits and plan data it was computed from): the flag stays resolved while that data is the
same and comes back when it changes (another visit, a changed plan, a corrected date).

The checks, over the delivered visits (no-shows are never billed):
- outside_plan: a visit dated before the order's plan starts (its preferred date, else the day it
  was made);
- over_plan: an order's visits deliver more units than planned, and no completion approved them
  (the desk approves by completing the order with at least those units);
- two_providers: the same resident served the same service by two providers on one day;
- after_death / after_move_out: a visit after the resident's date of death or move-out;
- over_capacity: a provider's delivered units in one week (Monday to Sunday) over its weekly
  capacity: per service when the service has its own capacity, otherwise the services without one
  together against the provider's overall capacity.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import parsing, surveys
from care.auth import Access
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from storage.models import (
    BillingCheckResolution,
    District,
    Order,
    Provider,
    ProviderService,
    Resident,
    Survey,
    Visit,
)

KINDS: Final = {
    "outside_plan": N_("Visit outside the order's plan"),
    "over_plan": N_("More units than planned, not approved"),
    "two_providers": N_("Two providers, one service, one day"),
    "after_death": N_("Visit after the date of death"),
    "after_move_out": N_("Visit after moving out"),
    "over_capacity": N_("Over the provider's weekly capacity"),
    "not_received": N_("Billed, but the resident said they did not receive it"),
}
TITLE: Final = N_("Billing checks")
MSG_CHANGED: Final = N_("The visits of this flag changed since the page was shown. Please look at it again.")
MSG_NOTE: Final = N_("Please write what you found.")
MSG_GONE: Final = N_("This flag is not on the list any more. Please look at the list again.")
MAX_NOTE: Final = 500


@dataclass(frozen=True)
class Flag:
    kind: str  # one of KINDS
    order_ids: tuple[int, ...]
    visit_ids: tuple[int, ...]
    resident_id: int | None  # None for a provider's week over capacity
    day: date | None
    key: str = ""  # what the flag is about, stable while the data changes
    fingerprint: str = ""  # the data it was computed from
    provider_id: int | None = None
    district_id: int = 0
    facts: dict[str, object] = field(default_factory=dict, compare=False)  # figures for the page
    visits: tuple[Visit, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Checked:
    """A flag as the desk sees it: open, or resolved (the resolution matches its data)."""

    flag: Flag
    resolution: BillingCheckResolution | None


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _visit_data(visits: list[Visit]) -> tuple[tuple[object, ...], ...]:
    return tuple(sorted((v.id, v.day.isoformat(), v.units, v.provider_id, v.order_id) for v in visits))


def _flag(kind: str, key: str, visits: list[Visit], extra: tuple[object, ...], **kw: object) -> Flag:
    visits = sorted(visits, key=lambda v: (v.day, v.id or 0))
    return Flag(
        kind=kind,
        order_ids=tuple(sorted({v.order_id for v in visits})),
        visit_ids=tuple(v.id for v in visits if v.id is not None),
        key=f"{kind}:{key}",
        fingerprint=_fingerprint(kind, key, _visit_data(visits), extra),
        visits=tuple(visits),
        district_id=visits[0].district_id if visits else 0,
        **kw,  # type: ignore[arg-type]
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _delivered(session: AsyncSession, *, district_id: int, first: date, last: date) -> list[Visit]:
    result = await session.execute(
        select(Visit)
        .where(
            col(Visit.district_id) == district_id,
            col(Visit.kind) == "delivered",
            col(Visit.day) >= first,
            col(Visit.day) <= last,
        )
        .order_by(col(Visit.day), col(Visit.id))
    )
    return list(result.scalars())


async def list_flags(session: AsyncSession, *, district_id: int, first: date, last: date) -> list[Flag]:
    """Return the billing flags of a district's visits between two days (inclusive)."""
    # Weeks that touch the period are checked whole, so a week over two months is one week.
    week_first, week_last = _monday(first), _monday(last) + timedelta(days=6)
    around = await _delivered(session, district_id=district_id, first=week_first, last=week_last)
    inside = [v for v in around if first <= v.day <= last]
    order_ids = sorted({v.order_id for v in inside})
    orders = {o.id: o for o in (await session.execute(select(Order).where(col(Order.id).in_(order_ids)))).scalars()}
    residents = {
        r.id: r
        for r in (
            await session.execute(
                select(Resident).where(col(Resident.id).in_({o.resident_id for o in orders.values()}))
            )
        ).scalars()
    }
    flags: list[Flag] = []
    flags += _outside_plan(inside, orders)
    flags += await _over_plan(session, order_ids, orders)
    flags += _two_providers(inside, orders)
    flags += _after(inside, orders, residents)
    flags += await _over_capacity(session, around, orders_of=await _orders_of(session, around, orders))
    flags += await _not_received(session, inside, orders)
    return flags


async def _not_received(session: AsyncSession, inside: list[Visit], orders: dict[int | None, Order]) -> list[Flag]:
    """Orders whose resident answered 못 받았어요 / 일부만 받았어요 (care.surveys) with delivered visits billed."""
    answers: dict[int, str] = dict(
        (  # type: ignore[arg-type]  # received is never None here: the query keeps only disputed answers
            await session.execute(
                select(col(Survey.order_id), col(Survey.received)).where(
                    col(Survey.order_id).in_(list(orders)), col(Survey.received).in_(surveys.DISPUTED)
                )
            )
        ).all()
    )
    by_order: dict[int, list[Visit]] = defaultdict(list)
    for v in inside:
        if v.order_id in answers:
            by_order[v.order_id].append(v)
    return [
        _flag(
            "not_received",
            str(order_id),
            visits,
            (answers[order_id],),
            resident_id=orders[order_id].resident_id,
            day=min(v.day for v in visits),
            provider_id=visits[0].provider_id,
            facts={"answer": surveys.RECEIVED[answers[order_id]]},  # its msgid, shown in Korean
        )
        for order_id, visits in by_order.items()
    ]


async def _orders_of(session: AsyncSession, visits: list[Visit], known: dict[int | None, Order]) -> dict[int, str]:
    """Return the service code of each visit's order (the weeks around the period included)."""
    codes = {oid: o.service_code for oid, o in known.items() if oid is not None}
    missing = {v.order_id for v in visits} - set(codes)
    if missing:
        rows = await session.execute(select(col(Order.id), col(Order.service_code)).where(col(Order.id).in_(missing)))
        codes.update({oid: code for oid, code in rows.all() if oid is not None})
    return codes


def _plan_start(order: Order) -> date:
    return order.requested_date or order.created_at.astimezone(clock.zone()).date()


def _outside_plan(inside: list[Visit], orders: dict[int | None, Order]) -> list[Flag]:
    flags = []
    for v in inside:
        order = orders[v.order_id]
        start = _plan_start(order)
        if v.day < start:
            flags.append(
                _flag(
                    "outside_plan",
                    str(v.id),
                    [v],
                    (start.isoformat(),),
                    resident_id=order.resident_id,
                    day=v.day,
                    provider_id=v.provider_id,
                    facts={"start": start},
                )
            )
    return flags


async def _over_plan(session: AsyncSession, order_ids: list[int], orders: dict[int | None, Order]) -> list[Flag]:
    """Orders whose visits (all of them, every month) deliver more than planned and no completion approved."""
    if not order_ids:
        return []
    result = await session.execute(
        select(Visit)
        .where(col(Visit.order_id).in_(order_ids), col(Visit.kind) == "delivered")
        .order_by(col(Visit.day), col(Visit.id))
    )
    by_order: dict[int, list[Visit]] = defaultdict(list)
    for v in result.scalars():
        by_order[v.order_id].append(v)
    flags = []
    for oid, visits in by_order.items():
        order = orders[oid]
        units = sum(v.units for v in visits)
        approved = order.status == "done" and (order.delivered_units or 0) >= units
        if units > order.units and not approved:
            flags.append(
                _flag(
                    "over_plan",
                    str(oid),
                    visits,
                    (order.units, order.status, order.delivered_units),
                    resident_id=order.resident_id,
                    day=None,
                    provider_id=visits[-1].provider_id,
                    facts={"planned": order.units, "delivered": units, "service": order.service_code},
                )
            )
    return flags


def _two_providers(inside: list[Visit], orders: dict[int | None, Order]) -> list[Flag]:
    same_day: dict[tuple[int, str, date], list[Visit]] = defaultdict(list)
    for v in inside:
        order = orders[v.order_id]
        same_day[(order.resident_id, order.service_code, v.day)].append(v)
    flags = []
    for (resident_id, code, day), visits in same_day.items():
        if len({v.provider_id for v in visits}) > 1:
            flags.append(
                _flag(
                    "two_providers",
                    f"{resident_id}:{code}:{day.isoformat()}",
                    visits,
                    (),
                    resident_id=resident_id,
                    day=day,
                    facts={"service": code},
                )
            )
    return flags


def _after(inside: list[Visit], orders: dict[int | None, Order], residents: dict[int | None, Resident]) -> list[Flag]:
    flags = []
    for v in inside:
        resident = residents.get(orders[v.order_id].resident_id)
        if resident is None:
            continue
        for kind, limit in (("after_death", resident.died_on), ("after_move_out", resident.moved_out_on)):
            if limit is not None and v.day > limit:
                flags.append(
                    _flag(
                        kind,
                        str(v.id),
                        [v],
                        (limit.isoformat(),),
                        resident_id=resident.id,
                        day=v.day,
                        provider_id=v.provider_id,
                        facts={"limit": limit},
                    )
                )
    return flags


async def _over_capacity(session: AsyncSession, around: list[Visit], *, orders_of: dict[int, str]) -> list[Flag]:
    provider_ids = sorted({v.provider_id for v in around if v.provider_id is not None})
    if not provider_ids:
        return []
    overall = {
        p.id: p.weekly_capacity
        for p in (await session.execute(select(Provider).where(col(Provider.id).in_(provider_ids)))).scalars()
    }
    own = {
        (s.provider_id, s.service_code): s.weekly_capacity
        for s in (
            await session.execute(select(ProviderService).where(col(ProviderService.provider_id).in_(provider_ids)))
        ).scalars()
        if s.weekly_capacity is not None
    }
    weeks: dict[tuple[int, str, date], list[Visit]] = defaultdict(list)
    for v in around:
        if v.provider_id is None:
            continue
        code = orders_of[v.order_id]
        group = code if (v.provider_id, code) in own else "*"  # "*": the services without their own capacity
        weeks[(v.provider_id, group, _monday(v.day))].append(v)
    flags = []
    for (provider_id, group, monday), visits in weeks.items():
        capacity = own[(provider_id, group)] if group != "*" else overall.get(provider_id)
        units = sum(v.units for v in visits)
        if capacity is not None and units > capacity:
            flags.append(
                _flag(
                    "over_capacity",
                    f"{provider_id}:{group}:{monday.isoformat()}",
                    visits,
                    (capacity,),
                    resident_id=None,
                    day=monday,
                    provider_id=provider_id,
                    facts={"capacity": capacity, "units": units, "service": group, "week": monday},
                )
            )
    return flags


# ---------------------------------------------------------------- the desk's list


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """Return the first and last day of a month."""
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


async def _district_ids(session: AsyncSession, access: Access) -> list[int]:
    if access.district_id is not None:
        return [access.district_id]
    return [d for d in (await session.execute(select(District.id).order_by(col(District.id)))).scalars() if d]


async def _latest_resolutions(
    session: AsyncSession, district_ids: list[int]
) -> dict[tuple[int, str], BillingCheckResolution]:
    result = await session.execute(
        select(BillingCheckResolution)
        .where(col(BillingCheckResolution.district_id).in_(district_ids))
        .order_by(col(BillingCheckResolution.id))
    )
    return {(r.district_id, r.flag_key): r for r in result.scalars()}


async def _checked(session: AsyncSession, *, district_ids: list[int], year: int, month: int) -> list[Checked]:
    first, last = month_bounds(year, month)
    resolutions = await _latest_resolutions(session, district_ids)
    rows = []
    for district_id in district_ids:
        for flag in await list_flags(session, district_id=district_id, first=first, last=last):
            found = resolutions.get((district_id, flag.key))
            rows.append(
                Checked(flag=flag, resolution=found if found and found.fingerprint == flag.fingerprint else None)
            )
    rows.sort(key=lambda c: (c.resolution is not None, c.flag.day or first, c.flag.kind, c.flag.key))
    return rows


@dataclass(frozen=True)
class Board:
    """The 점검 list of a month with the names it shows (residents, providers, receipt numbers)."""

    rows: list[Checked]
    residents: dict[int, str]
    providers: dict[int, str]
    receipts: dict[int, str]


async def board(session: AsyncSession, *, access: Access, year: int, month: int, resolved: bool = False) -> Board:
    """Return the month's 점검 list of the operator's district with the names it shows (the view is logged)."""
    rows = await list_for_desk(session, access=access, year=year, month=month, resolved=resolved)
    resident_ids = {c.flag.resident_id for c in rows if c.flag.resident_id is not None}
    provider_ids = {v.provider_id for c in rows for v in c.flag.visits if v.provider_id is not None}
    order_ids = {oid for c in rows for oid in c.flag.order_ids}
    residents = await session.execute(
        select(col(Resident.id), col(Resident.name)).where(col(Resident.id).in_(resident_ids))
    )
    providers = await session.execute(
        select(col(Provider.id), col(Provider.name)).where(col(Provider.id).in_(provider_ids))
    )
    receipts = await session.execute(select(col(Order.id), col(Order.receipt_no)).where(col(Order.id).in_(order_ids)))
    return Board(
        rows=rows,
        residents={i: n for i, n in residents.all() if i is not None},
        providers={i: n for i, n in providers.all() if i is not None},
        receipts={i: n for i, n in receipts.all() if i is not None},
    )


async def list_for_desk(
    session: AsyncSession, *, access: Access, year: int, month: int, resolved: bool = False
) -> list[Checked]:
    """Return the month's flags of the operator's district, open first (resolved too when asked); log who is named."""
    rows = [
        c for c in await _checked(session, district_ids=await _district_ids(session, access), year=year, month=month)
        if resolved or c.resolution is None
    ]  # fmt: skip
    named = sorted({c.flag.resident_id for c in rows if c.flag.resident_id is not None})
    await access.log(session, action="billing_checks_view", resident_ids=named or None,
                     detail=f"{year}-{month:02d}: {len(rows)} flags")  # fmt: skip
    return rows


async def resolve(
    session: AsyncSession,
    *,
    access: Access,
    order_id: int,
    key: str,
    fingerprint: str,
    note: str,
    year: int,
    month: int,
    operator_id: int | None,
) -> BillingCheckResolution:
    """Resolve one open flag about an order of the operator's district with a note (who, when)."""
    access.check_writer()
    order = await session.get(Order, order_id)
    if order is None or not access.sees(order.district_id):
        raise NotFound()
    text = " ".join((note or "").split())
    if not text:
        raise InvalidInput(MSG_NOTE)
    parsing.refuse_registration_number(text)
    rows = await _checked(session, district_ids=[order.district_id], year=year, month=month)
    found = next((c for c in rows if c.flag.key == key and order_id in c.flag.order_ids), None)
    if found is None or found.resolution is not None:
        raise RuleViolation(MSG_GONE)
    if found.flag.fingerprint != fingerprint:
        raise ConflictError()
    resolution = BillingCheckResolution(
        district_id=order.district_id,
        resident_id=found.flag.resident_id,
        flag_key=key,
        fingerprint=fingerprint,
        note=text[:MAX_NOTE],
        resolved_by_id=operator_id,
        resolved_by_name=access.username or "-",
    )
    session.add(resolution)
    await access.log(
        session,
        action="billing_check_resolve",
        resident_id=found.flag.resident_id,
        detail=f"{key}: {text[:MAX_NOTE]}",
    )
    await session.flush()
    return resolution
