"""Referrals (의뢰): a dong care manager's service plan for a resident, one order per service.

A care manager sees only their own dong's residents: a lookup that matches only a resident of
another dong is refused and written to the access log. The log row is written in the caller's
transaction before the error is raised, so the edge must commit after showing the refusal.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import eligibility, entitlements, orders, parsing, residents
from care.actors import Actor
from care.catalog import BY_CODE
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from dolbom.i18n import N_
from storage import audit
from storage import orders as orders_store
from storage.models import CareManager, Consent, Dong, Order, Provider, Referral, Resident

log = logging.getLogger(__name__)

URGENCIES: Final = ("urgent", "normal")
MSG_LAST4: Final = N_("Please type the last 4 digits of the phone number, like 5678.")
MSG_NAME: Final = N_("Please type the resident's name.")
MSG_OTHER_DONG: Final = N_("You can refer only residents of your own dong. Please ask the desk for help.")
MSG_CONSENT: Final = N_("Please confirm the resident's consent first.")
MSG_EMPTY_PLAN: Final = N_("Please add at least one service.")
MSG_SAME_SERVICE: Final = N_("This service is in the plan already.")
MSG_INACTIVE: Final = N_("Your account is paused. Please ask the desk.")

# What a care manager's referral asks the resident to agree to (recorded as a Consent row).
CONSENT_ITEMS: Final = ("name", "phone", "address", "health")
CONSENT_PURPOSE: Final = "돌봄 서비스 연계 (동 돌봄매니저 의뢰)"
CONSENT_RETENTION: Final = "서비스 종료 후 5년"
CONSENT_VERSION: Final = "care-manager-referral-1"


@dataclass(frozen=True)
class PlanItem:
    """One line of a service plan: a service, how many units, from which date."""

    service_code: str
    units: int
    requested_date: date | None = None


@dataclass
class ReferralView:
    """A referral with its resident's name and its orders (one per service)."""

    referral: Referral
    resident_name: str
    orders: list[Order] = field(default_factory=list)


def actor_for(manager: CareManager, *, channel: str) -> Actor:
    """Return the actor written into order history for a care manager's step."""
    return Actor(kind="care_manager", id=manager.id, name=manager.name, channel=channel)


def _who(manager: CareManager) -> str:
    return f"care_manager:{manager.id}:{manager.name}"


async def get_care_manager(session: AsyncSession, *, care_manager_id: int) -> CareManager:
    """Return an active care manager; raise PermissionDenied when paused or gone."""
    manager = await session.get(CareManager, care_manager_id)
    if manager is None or not manager.active:
        raise PermissionDenied(MSG_INACTIVE)
    return manager


def _clean_name(name: str) -> str:
    cleaned = re.sub(r"\s+", "", name or "")
    if not cleaned or len(cleaned) > 30:
        raise InvalidInput(MSG_NAME)
    parsing.refuse_registration_number(cleaned)
    return cleaned


def _clean_last4(text: str) -> str:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text or ""))
    if len(digits) != 4:
        raise InvalidInput(MSG_LAST4)
    return digits


async def _refuse_other_dong(session: AsyncSession, *, manager: CareManager, resident: Resident, what: str) -> None:
    await audit.record(
        session,
        action="care_manager_refused",
        username=_who(manager),
        resident_id=resident.id,
        detail=f"{what}: resident of dong {resident.dong_id}, manager of dong {manager.dong_id}",
    )
    log.warning("care manager %s refused %s of resident %s (another dong)", manager.id, what, resident.id)
    raise PermissionDenied(MSG_OTHER_DONG)


async def find_resident(session: AsyncSession, *, care_manager_id: int, name: str, phone_last4: str) -> list[Resident]:
    """Return the manager's own-dong residents with this name and phone ending; [] when none.

    When the only matches live in another dong, the lookup is logged and PermissionDenied raised.
    """
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    wanted, last4 = _clean_name(name), _clean_last4(phone_last4)
    result = await session.execute(
        select(Resident)
        .where(
            col(Resident.district_id) == manager.district_id,
            func.replace(col(Resident.name), " ", "") == wanted,  # '박 순자' is 박순자
            col(Resident.phone_last4) == last4,
            col(Resident.purged_at).is_(None),
        )
        .order_by(col(Resident.id))
    )
    matches = list(result.scalars())
    own = [r for r in matches if r.dong_id == manager.dong_id]
    if own:
        for resident in own:
            await audit.record(session, action="care_manager_lookup", username=_who(manager), resident_id=resident.id)
        return own
    if matches:
        await _refuse_other_dong(session, manager=manager, resident=matches[0], what="lookup")
    return []


async def get_resident(session: AsyncSession, *, care_manager_id: int, resident_id: int) -> Resident:
    """Return a resident of the manager's own dong; another dong's is refused and logged."""
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None or resident.district_id != manager.district_id:
        raise NotFound()
    if resident.dong_id != manager.dong_id:
        await _refuse_other_dong(session, manager=manager, resident=resident, what="open")
    return resident


async def register_resident(
    session: AsyncSession,
    *,
    care_manager_id: int,
    name: str,
    phone: str,
    address: str | None = None,
    birth_year: int | None = None,
) -> Resident:
    """Register a new resident in the manager's dong (or return the same person) and return them."""
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    cleaned = _clean_name(name)
    e164 = parsing.parse_phone(phone)
    if address is not None:
        parsing.refuse_registration_number(address)
        address = address.strip()[:200] or None
    same = await residents.get_by_name_and_phone(session, district_id=manager.district_id, name=cleaned, phone=e164)
    if same is not None:
        if same.dong_id != manager.dong_id:
            await _refuse_other_dong(session, manager=manager, resident=same, what="register")
        return same
    now = clock.now()
    resident = Resident(
        district_id=manager.district_id,
        dong_id=manager.dong_id,
        name=cleaned,
        phone=e164,
        address=address,
        birth_year=birth_year,
        created_at=now,
        updated_at=now,
        last_active_at=now,
    )
    session.add(resident)
    await session.flush()
    await audit.record(session, action="care_manager_register", username=_who(manager), resident_id=resident.id)
    return resident


def check_plan(plan: list[PlanItem], *, today: date) -> None:
    """Raise InvalidInput unless the plan has distinct known services, units ≥ 1 and no past dates."""
    if not plan:
        raise InvalidInput(MSG_EMPTY_PLAN)
    seen: set[str] = set()
    for item in plan:
        if item.service_code not in BY_CODE:
            raise InvalidInput(N_("Unknown service."))
        if item.service_code in seen:
            raise InvalidInput(MSG_SAME_SERVICE)
        seen.add(item.service_code)
        if item.units < 1:
            raise InvalidInput(N_("Please give at least one unit."))
        if item.requested_date is not None and item.requested_date < today:
            raise InvalidInput(parsing.MSG_DATE_PAST)


async def estimate(
    session: AsyncSession,
    *,
    care_manager_id: int,
    resident_id: int | None,
    plan: list[PlanItem],
) -> list[entitlements.Estimate]:
    """Return the expected public and resident amounts of each plan line, before the manager confirms.

    A known resident counts by the desk's decision in force on the line's day, else by what their
    record says; a person registered now has no income tier yet, so every line is theirs until the desk decides.
    """
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    resident = None
    if resident_id is not None:
        resident = await get_resident(session, care_manager_id=care_manager_id, resident_id=resident_id)
    today = clock.today()
    result = []
    planned_units: dict[tuple[int, str], int] = {}  # earlier lines of this plan take from the same year
    planned_public: dict[int, int] = {}
    for item in plan:
        day = item.requested_date or today
        tier, looks_eligible = "unknown", False
        if resident is not None:
            assert resident.id is not None
            decision = await entitlements.get_decision(session, resident_id=resident.id, day=day)
            if decision is not None:
                tier, looks_eligible = decision.income_tier, decision.eligible
            else:
                tier = resident.income_tier
                looks_eligible = eligibility.prescreen(
                    birth_year=resident.birth_year,
                    disabled=resident.disabled,
                    cannot_manage_alone=resident.cannot_manage_alone,
                    no_public_service=resident.no_public_service,
                    no_family_care=resident.no_family_care,
                    this_year=today.year,
                ).eligible
        e = await entitlements.estimate(
            session,
            district_id=manager.district_id,
            service_code=item.service_code,
            units=item.units,
            year=day.year,
            income_tier=tier,
            looks_eligible=looks_eligible,
            resident_id=resident.id if resident is not None else None,
            planned_units=planned_units.get((day.year, item.service_code), 0),
            planned_public=planned_public.get(day.year, 0),
        )
        planned_units[(day.year, item.service_code)] = planned_units.get((day.year, item.service_code), 0) + item.units
        planned_public[day.year] = planned_public.get(day.year, 0) + e.public
        result.append(e)
    return result


async def create(
    session: AsyncSession,
    *,
    care_manager_id: int,
    resident_id: int,
    plan: list[PlanItem],
    urgency: str,
    notes: str | None,
    consent_confirmed: bool,
    channel: str,
) -> ReferralView:
    """Create a referral and one order (접수, source care_manager) per plan line; return it."""
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    resident = await get_resident(session, care_manager_id=care_manager_id, resident_id=resident_id)
    if not consent_confirmed:
        raise RuleViolation(MSG_CONSENT)
    if urgency not in URGENCIES:
        raise InvalidInput(N_("That answer could not be understood."))
    check_plan(plan, today=clock.today())
    if notes is not None:
        parsing.refuse_registration_number(notes)
        notes = notes.strip()[:2000] or None
    assert manager.id is not None and resident.id is not None
    referral = Referral(
        care_manager_id=manager.id,
        resident_id=resident.id,
        urgency=urgency,
        notes=notes,
        consent_confirmed=True,
        created_at=clock.now(),
    )
    session.add(referral)
    session.add(
        Consent(
            resident_id=resident.id,
            items=list(CONSENT_ITEMS),
            purpose=CONSENT_PURPOSE,
            retention=CONSENT_RETENTION,
            text_version=CONSENT_VERSION,
            sensitive=notes is not None,
            channel=channel,
        )
    )
    await session.flush()
    actor = actor_for(manager, channel=channel)
    view = ReferralView(referral=referral, resident_name=resident.name)
    for item in plan:
        view.orders.append(
            await orders.create(
                session,
                resident_id=resident.id,
                service_code=item.service_code,
                units=item.units,
                actor=actor,
                source="care_manager",
                requested_date=item.requested_date,
                urgency=urgency,
                notes=notes,
                details={"care_manager": manager.name},
                referral_id=referral.id,
            )
        )
    await audit.record(
        session,
        action="care_manager_referral",
        username=_who(manager),
        resident_id=resident.id,
        detail=f"referral {referral.id}: " + ", ".join(f"{o.service_code}×{o.units}" for o in view.orders),
    )
    return view


async def _orders_of(session: AsyncSession, referral_ids: list[int]) -> dict[int, list[Order]]:
    if not referral_ids:
        return {}
    result = await session.execute(
        select(Order)
        .where(col(Order.referral_id).in_(referral_ids))
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    grouped: dict[int, list[Order]] = {}
    for order in result.scalars():
        assert order.referral_id is not None
        grouped.setdefault(order.referral_id, []).append(order)
    return grouped


async def list_for_care_manager(session: AsyncSession, *, care_manager_id: int, limit: int = 10) -> list[ReferralView]:
    """Return the manager's own referrals, newest first, each with its orders and their status."""
    await get_care_manager(session, care_manager_id=care_manager_id)
    rows = (
        await session.execute(
            select(Referral, col(Resident.name))
            .join(Resident, col(Resident.id) == col(Referral.resident_id))
            .where(Referral.care_manager_id == care_manager_id)
            .order_by(col(Referral.created_at).desc(), col(Referral.id).desc())
            .limit(limit)
        )
    ).all()
    grouped = await _orders_of(session, [r.id for r, _ in rows if r.id is not None])
    return [ReferralView(referral=r, resident_name=name, orders=grouped.get(r.id or 0, [])) for r, name in rows]


async def get(session: AsyncSession, *, care_manager_id: int, referral_id: int) -> ReferralView:
    """Return one of the manager's own referrals with its orders; another's is NotFound."""
    referral = await session.get(Referral, referral_id)
    if referral is None or referral.care_manager_id != care_manager_id:
        raise NotFound()
    resident = await session.get(Resident, referral.resident_id)
    grouped = await _orders_of(session, [referral_id])
    return ReferralView(
        referral=referral, resident_name=resident.name if resident else "", orders=grouped.get(referral_id, [])
    )


async def get_provider_name(session: AsyncSession, *, order_id: int) -> str | None:
    """Return the name of the provider an order is with now (pending or accepted), or None."""
    current = await orders_store.current_assignment(session, order_id)
    if current is None:
        return None
    provider = await session.get(Provider, current.provider_id)
    return provider.name if provider else None


async def dong_name(session: AsyncSession, *, care_manager_id: int) -> str:
    """Return the name of the manager's dong."""
    manager = await get_care_manager(session, care_manager_id=care_manager_id)
    dong = await session.get(Dong, manager.dong_id)
    return dong.name if dong else ""
