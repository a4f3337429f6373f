"""The catalog as the desk edited it: a service's price and cap for a district and year."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care.catalog import ANNUAL_SUPPORT_LIMIT, DEFAULTS, default_for
from care.fees import Price
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import ServiceCatalog, SupportLimit


async def get(session: AsyncSession, *, district_id: int, year: int, service_code: str) -> Price:
    """Return the unit price, cap and no-show rule in force, falling back to the shipped default (no-show: none)."""
    row = (
        await session.execute(
            select(ServiceCatalog).where(
                col(ServiceCatalog.district_id) == district_id,
                col(ServiceCatalog.year) == year,
                col(ServiceCatalog.code) == service_code,
            )
        )
    ).scalar_one_or_none()
    if row is not None:
        return Price(unit_price=row.unit_price, cap_units=row.cap_units, no_show_units=row.no_show_units)
    default = default_for(service_code)
    return Price(unit_price=default.unit_price, cap_units=default.cap_units)


async def get_annual_limit(session: AsyncSession, *, district_id: int, year: int) -> int:
    """Return the annual support limit per person in 원 for a district and year.

    The year's own value; a year the desk has not set yet keeps the newest earlier one; the
    shipped value only when the district never set any.
    """
    row = (
        await session.execute(
            select(SupportLimit)
            .where(col(SupportLimit.district_id) == district_id, col(SupportLimit.year) <= year)
            .order_by(col(SupportLimit.year).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return row.annual_limit if row is not None else ANNUAL_SUPPORT_LIMIT


async def create_defaults(session: AsyncSession, *, district_id: int, year: int) -> int:
    """Add the shipped defaults for a district and year where missing; return how many rows."""
    existing = set(
        (
            await session.execute(
                select(ServiceCatalog.code).where(
                    col(ServiceCatalog.district_id) == district_id, col(ServiceCatalog.year) == year
                )
            )
        ).scalars()
    )
    added = 0
    for d in DEFAULTS:
        if d.code.value in existing:
            continue
        session.add(
            ServiceCatalog(
                district_id=district_id,
                year=year,
                code=d.code.value,
                name=d.name,
                unit_label=d.unit_label,
                unit_price=d.unit_price,
                cap_units=d.cap_units,
            )
        )
        added += 1
    limit = (
        await session.execute(
            select(SupportLimit).where(col(SupportLimit.district_id) == district_id, col(SupportLimit.year) == year)
        )
    ).scalar_one_or_none()
    if limit is None:
        session.add(SupportLimit(district_id=district_id, year=year, annual_limit=ANNUAL_SUPPORT_LIMIT))
    await session.flush()
    return added


async def list_catalog(session: AsyncSession, *, district_id: int, year: int) -> list[ServiceCatalog]:
    """Return the district's catalog rows for a year, in the shipped order."""
    rows = list(
        (
            await session.execute(
                select(ServiceCatalog).where(
                    col(ServiceCatalog.district_id) == district_id, col(ServiceCatalog.year) == year
                )
            )
        ).scalars()
    )
    order = {d.code.value: i for i, d in enumerate(DEFAULTS)}
    return sorted(rows, key=lambda r: order.get(r.code, 99))


async def update_entry(
    session: AsyncSession,
    *,
    entry_id: int,
    unit_price: int,
    cap_units: int | None,
    active: bool,
    no_show_units: int | None = None,
) -> ServiceCatalog:
    """Set a catalog row's unit price (원), cap (units, None = none), no-show rule (units) and active flag; return it.

    no_show_units None leaves the row's rule as it is.
    """
    row = await session.get(ServiceCatalog, entry_id)
    if row is None:
        raise NotFound()
    if unit_price < 0 or (cap_units is not None and cap_units < 0) or (no_show_units or 0) < 0:
        raise InvalidInput(N_("Prices and caps cannot be negative."))
    row.unit_price, row.cap_units, row.active = unit_price, cap_units, active
    if no_show_units is not None:
        row.no_show_units = no_show_units
    session.add(row)
    await session.flush()
    return row


async def set_annual_limit(session: AsyncSession, *, district_id: int, year: int, annual_limit: int) -> SupportLimit:
    """Set the annual support limit per person (원) of a district and year; return the row."""
    if not 0 <= annual_limit <= 1_000_000_000:
        raise InvalidInput(N_("Please write the annual limit in won, as a number."))
    row = (
        await session.execute(
            select(SupportLimit).where(col(SupportLimit.district_id) == district_id, col(SupportLimit.year) == year)
        )
    ).scalar_one_or_none()
    if row is None:
        row = SupportLimit(district_id=district_id, year=year, annual_limit=annual_limit)
    row.annual_limit = annual_limit
    session.add(row)
    await session.flush()
    return row


async def latest_year_before(session: AsyncSession, *, district_id: int, year: int) -> int | None:
    """Return the newest catalog year of a district before `year`, or None."""
    found = (
        await session.execute(
            select(ServiceCatalog.year)
            .where(col(ServiceCatalog.district_id) == district_id, col(ServiceCatalog.year) < year)
            .order_by(col(ServiceCatalog.year).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return int(found) if found is not None else None


async def copy_year(session: AsyncSession, *, district_id: int, year: int) -> int:
    """Start a year's catalog as a copy of the newest earlier one (prices, caps, limit); return rows added.

    With no earlier year, the shipped defaults. Rows the year has already are left alone.
    """
    source = await latest_year_before(session, district_id=district_id, year=year)
    if source is None:
        return await create_defaults(session, district_id=district_id, year=year)
    existing = {r.code for r in await list_catalog(session, district_id=district_id, year=year)}
    added = 0
    for r in await list_catalog(session, district_id=district_id, year=source):
        if r.code in existing:
            continue
        session.add(
            ServiceCatalog(
                district_id=district_id,
                year=year,
                code=r.code,
                name=r.name,
                unit_label=r.unit_label,
                unit_price=r.unit_price,
                cap_units=r.cap_units,
                no_show_units=r.no_show_units,
                active=r.active,
            )
        )
        added += 1
    has_limit = (
        await session.execute(
            select(SupportLimit.id).where(col(SupportLimit.district_id) == district_id, col(SupportLimit.year) == year)
        )
    ).first()
    if has_limit is None:
        limit = await get_annual_limit(session, district_id=district_id, year=source)
        session.add(SupportLimit(district_id=district_id, year=year, annual_limit=limit))
    await session.flush()
    return added
