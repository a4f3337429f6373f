"""Who is supported and how much is left: the desk's eligibility decisions and the yearly entitlement ledger.

The bot's pre-screen (care.eligibility) stays a pre-screen: public support follows only a decision
the desk recorded (돌봄SOS 대상 yes/no, the ground, the verified income tier, valid from/until).
Public support = eligible AND 수급/차상위 (seed 001). Without a decision the order can be assigned
only as fully self-paid, with the resident's consent recorded.

The ledger has one entry per order: the units and 원 it takes from the resident's caps and annual
limit of the service year (caps and limit count per year: 30 meals in 2025 leave all 30 for 2026).
Units are reserved at assignment, adjusted at completion, released on cancel. Passing a cap or the
annual limit is never silent: the desk records that the resident pays the excess (with consent) or
reduces the units. Integer 원 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import fees, labels, lifecycle, prices
from care.auth import Access
from care.fees import PUBLICLY_SUPPORTED, IncomeTier
from care.lifecycle import Status
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_, gettext
from storage import orders as order_store
from storage.models import EligibilityDecision, EntitlementEntry, Operator, Order, Resident, Visit

ELDERLY_AGE = 65
GROUNDS = ("elderly", "disabled")
SITUATIONS = ("cannot_manage_alone", "no_public_service", "no_family_care")
VERIFIED_TIERS = (IncomeTier.BASIC.value, IncomeTier.NEAR_POOR.value, IncomeTier.GENERAL.value)
FUNDINGS = ("public", "self_paid", "pay_excess")
# Ledger entries that hold units and 원 of the year.
HOLDING = ("reserved", "settled")
# Orders whose units count against a cap: everything not cancelled or rejected.
CAP_STATUSES = [s.value for s in lifecycle.OPEN] + [Status.DONE.value]


class Support(StrEnum):
    UNDECIDED = "undecided"  # no decision in force: no public support until the desk decides
    SUPPORTED = "supported"  # eligible and 수급/차상위
    NOT_SUPPORTED = "not_supported"  # not eligible, or 일반: pays in full


# ------------------------------------------------------------------ age


@dataclass(frozen=True)
class Age:
    years: int
    approximate: bool  # only the birth year is known: the age this year's birthday brings


def age_on(*, day: date, birth_date: date | None, birth_year: int | None) -> Age | None:
    """Return the 만 나이 on a day (exact from the birth date; from the year alone, approximate)."""
    if birth_date is not None:
        # Born on 29 February: in a common year the birthday has passed only from 1 March.
        before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
        return Age(years=day.year - birth_date.year - int(before_birthday), approximate=False)
    if birth_year is not None:
        return Age(years=day.year - birth_year, approximate=True)
    return None


# ------------------------------------------------------------------ decisions


async def _resident(session: AsyncSession, *, resident_id: int, access: Access | None) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    if access is not None and not access.sees(resident.district_id):
        raise OutOfDistrict(what="resident", thing_id=resident_id, resident_id=resident_id)
    return resident


async def decide(
    session: AsyncSession,
    *,
    resident_id: int,
    access: Access,
    eligible: bool,
    ground: str | None,
    situations: list[str],
    income_tier: str,
    valid_from: date,
    valid_until: date | None = None,
    note: str | None = None,
) -> EligibilityDecision:
    """Record the desk's eligibility decision (a new row; earlier ones stay as history) and return it."""
    access.check_writer()
    resident = await _resident(session, resident_id=resident_id, access=access)
    if income_tier not in VERIFIED_TIERS:
        raise InvalidInput(N_("Choose the income tier as verified: 수급, 차상위 or 일반."))
    if any(s not in SITUATIONS for s in situations):
        raise InvalidInput(N_("That answer could not be understood."))
    if eligible:
        if ground not in GROUNDS:
            raise InvalidInput(N_("Choose the ground: aged 65 or over, or a disability."))
        if not situations:
            raise InvalidInput(N_("Choose at least one of the three situations."))
    else:
        ground, situations = None, []
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput(N_("The end date is before the start date."))
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    row = EligibilityDecision(
        district_id=resident.district_id,
        resident_id=resident_id,
        eligible=eligible,
        ground=ground,
        situations=sorted(set(situations), key=SITUATIONS.index),
        income_tier=income_tier,
        valid_from=valid_from,
        valid_until=valid_until,
        decided_by=access.operator_id,
        decided_by_name=(operator.display_name or operator.username) if operator else access.username,
        note=(note or "").strip() or None,
    )
    session.add(row)
    await session.flush()
    await access.log(
        session,
        action="eligibility_decide",
        resident_id=resident_id,
        detail=f"{'eligible' if eligible else 'not eligible'} · {income_tier} · {valid_from}–{valid_until or ''}",
    )
    return row


async def list_decisions(session: AsyncSession, *, resident_id: int) -> list[EligibilityDecision]:
    """Return the resident's decisions, newest first (the history the resident page shows)."""
    return list(
        (
            await session.execute(
                select(EligibilityDecision)
                .where(col(EligibilityDecision.resident_id) == resident_id)
                .order_by(col(EligibilityDecision.decided_at).desc(), col(EligibilityDecision.id).desc())
            )
        ).scalars()
    )


def in_force(decisions: list[EligibilityDecision], *, day: date) -> EligibilityDecision | None:
    """Return the newest decision (of a newest-first list) valid on the day, or None."""
    for d in decisions:
        if d.valid_from <= day and (d.valid_until is None or day <= d.valid_until):
            return d
    return None


async def get_decision(session: AsyncSession, *, resident_id: int, day: date) -> EligibilityDecision | None:
    """Return the decision in force on a day, or None (undecided)."""
    return in_force(await list_decisions(session, resident_id=resident_id), day=day)


def support_of(decision: EligibilityDecision | None) -> Support:
    """Return what a decision means for public support."""
    if decision is None:
        return Support.UNDECIDED
    if decision.eligible and IncomeTier(decision.income_tier) in PUBLICLY_SUPPORTED:
        return Support.SUPPORTED
    return Support.NOT_SUPPORTED


# ------------------------------------------------------------------ the ledger


def service_day(order: Order) -> date:
    """Return the day the order's service counts on: the requested date, else the day it was received."""
    if order.requested_date is not None:
        return order.requested_date
    return order.created_at.astimezone(clock.zone()).date()


async def get_entry(session: AsyncSession, *, order_id: int) -> EntitlementEntry | None:
    """Return the order's ledger entry, or None."""
    return (
        await session.execute(select(EntitlementEntry).where(col(EntitlementEntry.order_id) == order_id))
    ).scalar_one_or_none()


async def used_units(
    session: AsyncSession,
    *,
    resident_id: int,
    service_code: str,
    year: int,
    statuses: list[str],
    exclude_order_id: int | None,
) -> int:
    """Return the units of a service the resident has in orders of a year (service day), other orders only."""
    rows = (
        await session.execute(
            select(Order).where(
                col(Order.resident_id) == resident_id,
                col(Order.service_code) == service_code,
                col(Order.status).in_(statuses),
            )
        )
    ).scalars()
    return sum(
        (o.delivered_units if o.delivered_units is not None else o.units)
        for o in rows
        if o.id != exclude_order_id and service_day(o).year == year
    )


async def _holding(
    session: AsyncSession, *, resident_id: int, year: int, exclude_order_id: int | None
) -> list[EntitlementEntry]:
    rows = (
        await session.execute(
            select(EntitlementEntry).where(
                col(EntitlementEntry.resident_id) == resident_id,
                col(EntitlementEntry.year) == year,
                col(EntitlementEntry.status).in_(HOLDING),
            )
        )
    ).scalars()
    return [e for e in rows if e.order_id != exclude_order_id]


async def public_used(session: AsyncSession, *, resident_id: int, year: int, exclude_order_id: int | None) -> int:
    """Return the public support (원) the resident's other ledger entries hold for a year."""
    rows = await _holding(session, resident_id=resident_id, year=year, exclude_order_id=exclude_order_id)
    return sum(e.public_amount for e in rows)


async def reserved_units(
    session: AsyncSession, *, resident_id: int, service_code: str, year: int, exclude_order_id: int | None
) -> int:
    """Return the units of a service the resident's other ledger entries hold for a year (reserved or settled)."""
    rows = await _holding(session, resident_id=resident_id, year=year, exclude_order_id=exclude_order_id)
    return sum(e.units for e in rows if e.service_code == service_code)


@dataclass(frozen=True)
class Preview:
    """What the order takes from the resident's year, shown to the desk before assignment."""

    year: int
    service_code: str
    units: int
    unit_price: int
    cap: int | None
    cap_used: int  # by the resident's other orders of the year
    cap_left: int | None  # before this order
    annual_limit: int
    limit_used: int
    limit_left: int  # before this order
    support: Support
    funding: str
    total: int
    public: int
    resident: int
    over_cap: bool
    over_limit: bool
    consent_recorded: bool

    @property
    def needs_decision(self) -> bool:
        """Return True when the desk must decide something before the order can be assigned."""
        return bool(self.blocker)

    @property
    def blocker(self) -> str | None:
        """Return the msgid of what stops assignment, or None."""
        if self.total == 0:
            return None
        if self.support is Support.UNDECIDED and self.funding != "self_paid":
            return N_(
                "Eligibility is not decided: decide it on the resident page, or record that the resident pays in full."
            )
        if self.funding == "public" and (self.over_cap or self.over_limit):
            return N_(
                "This order passes the cap or this year's support limit: "
                "reduce the units, or record that the resident pays the excess."
            )
        return None


def _split(
    *, units: int, unit_price: int, cap_left: int | None, limit_left: int, support: Support, funding: str
) -> tuple[int, int, int]:
    total = fees.amount(units=units, unit_price=unit_price)
    if support is not Support.SUPPORTED or funding == "self_paid":
        return total, 0, total
    covered_units = units if cap_left is None else min(units, cap_left)
    public = min(fees.amount(units=covered_units, unit_price=unit_price), limit_left)
    return total, public, total - public


async def preview(session: AsyncSession, *, order: Order, units: int | None = None) -> Preview:
    """Return the order's claim on the resident's caps and annual limit of its service year."""
    assert order.id is not None
    day = service_day(order)
    units = order.units if units is None else units
    price = await prices.get(session, district_id=order.district_id, year=day.year, service_code=order.service_code)
    limit = await prices.get_annual_limit(session, district_id=order.district_id, year=day.year)
    # The resident's other entries of the year, read once: the cap counts their units, the limit their support.
    holding = await _holding(session, resident_id=order.resident_id, year=day.year, exclude_order_id=order.id)
    cap_used = sum(e.units for e in holding if e.service_code == order.service_code)
    cap_left = fees.remaining_cap(cap_units=price.cap_units, used_units=cap_used)
    limit_used = sum(e.public_amount for e in holding)
    limit_left = max(limit - limit_used, 0)
    support = support_of(await get_decision(session, resident_id=order.resident_id, day=day))
    entry = await get_entry(session, order_id=order.id)
    funding = entry.funding if entry is not None else "public"
    total, public, resident = _split(
        units=units,
        unit_price=price.unit_price,
        cap_left=cap_left,
        limit_left=limit_left,
        support=support,
        funding=funding,
    )
    covered_total = fees.amount(units=units if cap_left is None else min(units, cap_left), unit_price=price.unit_price)
    supported = support is Support.SUPPORTED
    return Preview(
        year=day.year,
        service_code=order.service_code,
        units=units,
        unit_price=price.unit_price,
        cap=price.cap_units,
        cap_used=cap_used,
        cap_left=cap_left,
        annual_limit=limit,
        limit_used=limit_used,
        limit_left=limit_left,
        support=support,
        funding=funding,
        total=total,
        public=public,
        resident=resident,
        over_cap=cap_left is not None and units > cap_left,
        over_limit=supported and covered_total > limit_left,
        consent_recorded=entry is not None and entry.consent_at is not None,
    )


async def choose_funding(
    session: AsyncSession, *, order_id: int, access: Access, funding: str, consent_note: str | None
) -> EntitlementEntry:
    """Record how the order is paid (public / self_paid / pay_excess) before assignment; return the entry.

    self_paid and pay_excess need the resident's consent, written as the desk heard it.
    """
    access.check_writer()
    order = await order_store.get(session, order_id)
    if order is None:
        raise NotFound()
    if not access.sees(order.district_id):
        raise OutOfDistrict(what="order", thing_id=order_id, resident_id=order.resident_id)
    if funding not in FUNDINGS:
        raise InvalidInput(N_("That answer could not be understood."))
    note = (consent_note or "").strip() or None
    if funding != "public" and note is None:
        raise InvalidInput(N_("Write how the resident agreed to pay."))
    entry = await get_entry(session, order_id=order_id)
    if entry is not None and entry.status in ("settled", "released"):
        raise RuleViolation(N_("This order is closed: its payment can no longer change."))
    assert order.id is not None
    if entry is None:
        entry = EntitlementEntry(
            district_id=order.district_id,
            resident_id=order.resident_id,
            order_id=order.id,
            year=service_day(order).year,
            service_code=order.service_code,
        )
    entry.funding = funding
    entry.consent_note = note
    entry.consent_by = access.username if note else None
    entry.consent_at = clock.now() if note else None
    entry.updated_at = clock.now()
    session.add(entry)
    await session.flush()
    if entry.status == "reserved":
        await _write(session, order=order, entry=entry, units=order.units)
    await access.log(
        session, action="funding_choice", resident_id=order.resident_id, detail=f"{order.receipt_no} · {funding}"
    )
    return entry


async def _write(session: AsyncSession, *, order: Order, entry: EntitlementEntry, units: int) -> Preview:
    p = await preview(session, order=order, units=units)
    entry.units, entry.public_amount, entry.resident_amount = units, p.public, p.resident
    entry.year, entry.updated_at = p.year, clock.now()
    session.add(entry)
    await session.flush()
    return p


async def reserve(session: AsyncSession, *, order: Order) -> EntitlementEntry:
    """Reserve the order's units and public support at assignment; raise RuleViolation when the desk must decide first.

    Counting and writing happen under the resident's row lock: of two assignments racing for the
    last units, the second counts the first's and is refused.
    """
    assert order.id is not None
    await order_store.lock_resident_units(session, resident_id=order.resident_id)
    p = await preview(session, order=order)
    if p.blocker is not None:
        raise RuleViolation(p.blocker)
    entry = await get_entry(session, order_id=order.id)
    if entry is None:
        entry = EntitlementEntry(
            district_id=order.district_id,
            resident_id=order.resident_id,
            order_id=order.id,
            year=p.year,
            service_code=order.service_code,
        )
    entry.status = "reserved"
    await _write(session, order=order, entry=entry, units=order.units)
    return entry


async def billed_no_show_units(session: AsyncSession, *, order: Order) -> int:
    """Return the units the order's no-shows bill by the catalog's rule of each no-show's year (0 without a rule)."""
    assert order.id is not None
    days = (
        await session.execute(
            select(col(Visit.day)).where(col(Visit.order_id) == order.id, col(Visit.kind) == "no_show")
        )
    ).scalars()
    rule: dict[int, int] = {}
    total = 0
    for day in days:
        if day.year not in rule:
            price = await prices.get(
                session, district_id=order.district_id, year=day.year, service_code=order.service_code
            )
            rule[day.year] = price.no_show_units
        total += rule[day.year]
    return total


async def settle(session: AsyncSession, *, order: Order, delivered_units: int) -> EntitlementEntry | None:
    """Adjust the order's entry to what completion bills; return it (None without an entry).

    A no-show billed by the catalog's rule takes from the year's units and support as the
    settlement bills it, so "how much is left" and the month's lines agree.
    """
    assert order.id is not None
    entry = await get_entry(session, order_id=order.id)
    if entry is None:
        return None
    entry.status = "settled"
    billed = delivered_units + await billed_no_show_units(session, order=order)
    await _write(session, order=order, entry=entry, units=billed)
    return entry


async def release(session: AsyncSession, *, order_id: int) -> None:
    """Give the order's reserved units and support back (cancel, reject)."""
    entry = await get_entry(session, order_id=order_id)
    if entry is not None and entry.status != "settled":
        entry.status, entry.units, entry.public_amount, entry.resident_amount = "released", 0, 0, 0
        entry.updated_at = clock.now()
        session.add(entry)
        await session.flush()


def describe(p: Preview) -> dict[str, Any]:
    """Return the preview's figures for templates and JSON."""
    return {
        "year": p.year,
        "cap": p.cap,
        "cap_left": p.cap_left,
        "annual_limit": p.annual_limit,
        "limit_left": p.limit_left,
        "total": p.total,
        "public": p.public,
        "resident": p.resident,
        "support": p.support.value,
        "funding": p.funding,
        "over_cap": p.over_cap,
        "over_limit": p.over_limit,
        "blocker": p.blocker,
    }


def today() -> date:
    """Return today's date in Asia/Seoul."""
    return clock.local_now().date()


def won(amount: int) -> str:
    """Return an amount of 원 with thousands separators, e.g. '1,520,000'."""
    return f"{amount:,}"


def summary_text(p: Preview, locale: str | None = None) -> str:
    """Return the one line the desk and the person read before confirming, in the locale (Korean by default).

    e.g. "식사 30식 중 12식 남음 · 올해 공공 지원 1,520,000원 중 384,000원 남음 ·
    이번 신청 예상 공공 216,000원 / 본인 0원"
    """
    parts: list[str] = []
    if p.cap is not None and p.cap_left is not None:
        parts.append(
            gettext(
                N_("{service} {left} left of {cap}"),
                locale,
                service=labels.label(labels.SERVICE, p.service_code, locale),
                cap=labels.quantity(p.service_code, p.cap, locale),
                left=labels.quantity(p.service_code, p.cap_left, locale),
            )
        )
    if p.support is Support.SUPPORTED:
        parts.append(
            gettext(
                N_("public support this year: {left} won left of {limit} won"),
                locale,
                left=won(p.limit_left),
                limit=won(p.annual_limit),
            )
        )
    elif p.support is Support.UNDECIDED:
        parts.append(gettext(N_("public support not decided yet"), locale))
    else:
        parts.append(gettext(N_("no public support (pays in full)"), locale))
    parts.append(
        gettext(
            N_("this request: public {public} won / resident {resident} won (expected)"),
            locale,
            public=won(p.public),
            resident=won(p.resident),
        )
    )
    return " · ".join(parts)


async def order_summary(session: AsyncSession, *, order: Order, locale: str | None = None) -> tuple[Preview, str]:
    """Return the order's preview and its one-line summary (for the order page, bot summary, receipt)."""
    p = await preview(session, order=order)
    return p, summary_text(p, locale)


@dataclass(frozen=True)
class ResidentEntitlement:
    """The resident page's eligibility card: the decision in force, the history, the age today."""

    current: EligibilityDecision | None
    support: Support
    history: list[EligibilityDecision]
    age: Age | None
    income_unverified: bool  # the person said 잘 모르겠어요 and no decision holds


async def for_resident(session: AsyncSession, *, resident: Resident) -> ResidentEntitlement:
    """Return the resident's eligibility card (the caller has checked the district and logged the view)."""
    assert resident.id is not None
    day = today()
    history = await list_decisions(session, resident_id=resident.id)
    current = in_force(history, day=day)
    return ResidentEntitlement(
        current=current,
        support=support_of(current),
        history=history,
        age=age_on(day=day, birth_date=resident.birth_date, birth_year=resident.birth_year),
        income_unverified=current is None and resident.income_tier == IncomeTier.UNKNOWN.value,
    )


@dataclass(frozen=True)
class Estimate:
    """What a request is expected to cost before the desk has decided anything (bot summary, referral)."""

    total: int
    public: int
    resident: int
    certain: bool  # False: the desk still has to confirm eligibility or the income tier


async def estimate(
    session: AsyncSession,
    *,
    district_id: int,
    service_code: str,
    units: int,
    year: int,
    income_tier: str,
    looks_eligible: bool,
    resident_id: int | None = None,
    planned_units: int = 0,
    planned_public: int = 0,
) -> Estimate:
    """Return the expected total, public and resident amounts of a request from the person's own answers.

    For a known resident the units and support their other orders of the year already hold are
    taken off the cap and the annual limit first, as are planned_units / planned_public (earlier
    lines of the same plan).
    """
    price = await prices.get(session, district_id=district_id, year=year, service_code=service_code)
    limit = await prices.get_annual_limit(session, district_id=district_id, year=year)
    held_units, held_public = planned_units, planned_public
    if resident_id is not None:
        held_units += await reserved_units(
            session, resident_id=resident_id, service_code=service_code, year=year, exclude_order_id=None
        )
        held_public += await public_used(session, resident_id=resident_id, year=year, exclude_order_id=None)
    limit = max(0, limit - held_public)
    cap_left = None if price.cap_units is None else max(0, price.cap_units - held_units)
    covered = units if cap_left is None else min(units, cap_left)
    total = fees.amount(units=units, unit_price=price.unit_price)
    tier = income_tier if income_tier in {t.value for t in IncomeTier} else IncomeTier.UNKNOWN.value
    if tier == IncomeTier.GENERAL.value:
        return Estimate(total=total, public=0, resident=total, certain=True)
    if looks_eligible and IncomeTier(tier) in PUBLICLY_SUPPORTED:
        public = min(fees.amount(units=covered, unit_price=price.unit_price), limit)
        return Estimate(total=total, public=public, resident=total - public, certain=False)
    return Estimate(total=total, public=0, resident=total, certain=False)


def estimate_text(e: Estimate, locale: str | None = None) -> str:
    """Return the expected amounts as one or two sentences for the person, before they confirm."""
    if e.total == 0:
        return gettext(N_("Cost: free of charge."), locale)
    line = gettext(
        N_("Expected cost {total} won: public support {public} won, you pay {resident} won."),
        locale,
        total=won(e.total),
        public=won(e.public),
        resident=won(e.resident),
    )
    if not e.certain:
        line += " " + gettext(N_("The desk checks whether you are supported and tells you the final amount."), locale)
    return line
