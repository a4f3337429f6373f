"""Residents (이용자) as the desk sees them: list, search, detail, edit with history, export.

Every view, change and export writes the access log (operator, time, IP, resident,
action); a resident of another district is NotFound to a district-bound operator
(OutOfDistrict, which the console logs as a denied attempt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import parsing
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import (
    AccessLog,
    CheckinSchedule,
    CheckinSlot,
    Consent,
    Dong,
    FamilyContact,
    Operator,
    Order,
    Resident,
    ResidentChannel,
)

INCOME_TIERS = ("basic", "near_poor", "general", "unknown")
_LAST4 = re.compile(r"^\d{4}$")
# Fields the desk may edit, and how they are shown in the change history.
EDITABLE = (
    "name",
    "phone",
    "address",
    "dong_id",
    "birth_year",
    "disabled",
    "lives_alone",
    "cannot_manage_alone",
    "no_public_service",
    "no_family_care",
    "income_tier",
    "needs_phone_call",
    "died_on",
    "moved_out_on",
)


class OutOfDistrict(NotFound):
    """Not found to this operator: the thing belongs to another district (the attempt is logged)."""

    def __init__(self, *, what: str, thing_id: int | None, resident_id: int | None = None) -> None:
        super().__init__()
        self.what = what
        self.thing_id = thing_id
        self.resident_id = resident_id


@dataclass
class Detail:
    resident: Resident
    dong: Dong | None
    orders: list[Order]
    schedule: CheckinSchedule | None
    slots: list[CheckinSlot]
    consents: list[Consent]
    family: list[FamilyContact]
    changes: list[AccessLog] = field(default_factory=list)
    # The person's messenger accounts, verified or claimed, and the desk operators' names by id.
    bindings: list[ResidentChannel] = field(default_factory=list)
    operator_names: dict[int, str] = field(default_factory=dict)
    same_as: Resident | None = None


async def _visible(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    if not access.sees(resident.district_id):
        raise OutOfDistrict(what="resident", thing_id=resident_id, resident_id=resident_id)
    return resident


async def get_visible(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    """Return a resident the operator may see, without logging a view (the caller logs what it does)."""
    return await _visible(session, resident_id=resident_id, access=access)


async def list_residents(
    session: AsyncSession,
    *,
    access: Access,
    search: str | None = None,
    dong_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Resident, str | None]], int]:
    """Return a page of (resident, dong name) by name, and the total; the list view is logged."""
    q = (
        select(Resident, col(Dong.name))
        .outerjoin(Dong, col(Dong.id) == col(Resident.dong_id))
        .where(col(Resident.purged_at).is_(None))
    )
    if access.district_id is not None:
        q = q.where(col(Resident.district_id) == access.district_id)
    if dong_id:
        q = q.where(col(Resident.dong_id) == dong_id)
    s = (search or "").strip()
    if s:
        if _LAST4.match(s):
            q = q.where(col(Resident.phone_last4) == s)
        else:
            q = q.where(or_(col(Resident.name).contains(s, autoescape=True)))
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    rows = (await session.execute(q.order_by(col(Resident.name), col(Resident.id)).limit(limit).offset(offset))).all()
    await access.log(
        session,
        action="resident_search" if s else "resident_list",
        resident_ids=[r.id for r, _ in rows if r.id is not None],
        detail=f"{len(rows)} of {total}",
    )
    return [(r, d) for r, d in rows], total


async def get(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    """Return a resident visible to the operator (the view is logged); raise NotFound."""
    resident = await _visible(session, resident_id=resident_id, access=access)
    await access.log(session, action="resident_view", resident_id=resident_id)
    return resident


async def detail(session: AsyncSession, *, resident_id: int, access: Access) -> Detail:
    """Return the resident with orders, check-ins, consents, family and change history (logged)."""
    resident = await get(session, resident_id=resident_id, access=access)
    dong = await session.get(Dong, resident.dong_id) if resident.dong_id else None

    async def rows(q: Any) -> list[Any]:
        return list((await session.execute(q)).scalars())

    family: list[FamilyContact] = await rows(
        select(FamilyContact).where(col(FamilyContact.resident_id) == resident_id).order_by(col(FamilyContact.id))
    )
    bindings: list[ResidentChannel] = await rows(
        select(ResidentChannel).where(col(ResidentChannel.resident_id) == resident_id).order_by(col(ResidentChannel.id))
    )
    marks: list[int | None] = [b.verified_by for b in bindings] + [b.revoked_by for b in bindings]
    marks += [f.verified_by for f in family] + [f.revoked_by for f in family]
    operator_ids = {op_id for op_id in marks if op_id is not None}

    return Detail(
        resident=resident,
        dong=dong,
        orders=await rows(
            select(Order).where(col(Order.resident_id) == resident_id).order_by(col(Order.created_at).desc()).limit(50)
        ),
        schedule=(
            await session.execute(select(CheckinSchedule).where(col(CheckinSchedule.resident_id) == resident_id))
        ).scalar_one_or_none(),
        slots=await rows(
            select(CheckinSlot)
            .where(col(CheckinSlot.resident_id) == resident_id)
            .order_by(col(CheckinSlot.scheduled_at).desc())
            .limit(10)
        ),
        consents=await rows(
            select(Consent).where(col(Consent.resident_id) == resident_id).order_by(col(Consent.id).desc())
        ),
        family=family,
        changes=await history(session, resident_id=resident_id),
        bindings=bindings,
        operator_names={
            int(op_id or 0): name
            for op_id, name in (
                await session.execute(
                    select(col(Operator.id), col(Operator.username)).where(col(Operator.id).in_(operator_ids))
                )
            ).all()
        }
        if operator_ids
        else {},
        same_as=await _same_as(session, resident=resident, access=access),
    )


async def _same_as(session: AsyncSession, *, resident: Resident, access: Access) -> Resident | None:
    """Return the resident this record is possibly the same as; showing them is logged as a view."""
    if resident.same_as_id is None:
        return None
    same_as = await session.get(Resident, resident.same_as_id)
    if same_as is None or not access.sees(same_as.district_id):
        return None
    await access.log(session, action="resident_view", resident_id=same_as.id, detail=f"≈ #{resident.id}")
    return same_as


async def history(session: AsyncSession, *, resident_id: int) -> list[AccessLog]:
    """Return the changes made to a resident's record, newest first."""
    result = await session.execute(
        select(AccessLog)
        .where(col(AccessLog.resident_id) == resident_id, col(AccessLog.action) == "resident_update")
        .order_by(col(AccessLog.id).desc())
    )
    return list(result.scalars())


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Return the editable values parsed and checked; raise InvalidInput."""
    out: dict[str, Any] = {}
    for key in EDITABLE:
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, str):
            value = value.strip()
            parsing.refuse_registration_number(value)
        if key == "name":
            if not value:
                raise InvalidInput(N_("Please write the name."))
            value = value[:50]
        elif key == "phone":
            value = parsing.parse_phone(value) if value else None
        elif key == "address":
            value = value[:200] if value else None
        elif key in ("dong_id", "birth_year"):
            value = int(value) if value not in (None, "") else None
        elif key == "income_tier":
            if value not in INCOME_TIERS:
                raise InvalidInput()
        elif key in ("died_on", "moved_out_on"):
            value = _day(value)
        out[key] = value
    if out.get("birth_year") is not None and not 1900 <= out["birth_year"] <= clock.today().year:
        raise InvalidInput(parsing.MSG_BIRTH_YEAR)
    return out


def _day(value: Any) -> date | None:
    """Return a date of death or move-out: none, or a real day not after today."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(N_("Please give the date as YYYY-MM-DD.")) from None
    if not isinstance(value, date) or value > clock.today():
        raise InvalidInput(N_("That date is still to come."))
    return value


def clean(values: dict[str, Any]) -> dict[str, Any]:
    """Return the editable values parsed and checked, as the desk's edit would store them; raise InvalidInput."""
    return _clean(values)


async def update(session: AsyncSession, *, resident_id: int, access: Access, values: dict[str, Any]) -> Resident:
    """Apply the desk's edits and log what changed (old → new); return the resident."""
    access.check_writer()
    resident = await _visible(session, resident_id=resident_id, access=access)
    clean = _clean(values)
    if clean.get("dong_id") is not None:
        dong = await session.get(Dong, clean["dong_id"])
        if dong is None or dong.district_id != resident.district_id:
            raise InvalidInput()
    changed = []
    for key, value in clean.items():
        old = getattr(resident, key)
        if old != value:
            changed.append(f"{key}: {_show(old)} → {_show(value)}")
            setattr(resident, key, value)
    if changed:
        resident.updated_at = clock.now()
        session.add(resident)
        await access.log(session, action="resident_update", resident_id=resident_id, detail="; ".join(changed))
    await session.flush()
    return resident


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if value is True:
        return "예"
    if value is False:
        return "아니요"
    return str(value)


MAX_REASON = 200
MSG_REASON = N_("Please write why you need this download.")


def clean_reason(reason: str | None) -> str:
    """Return the reason for a download, checked (required, short, no registration number)."""
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput(MSG_REASON)
    parsing.refuse_registration_number(text)
    return text[:MAX_REASON]


async def export(
    session: AsyncSession, *, access: Access, reason: str | None, search: str | None = None
) -> list[Resident]:
    """Return the residents to export (name search or all visible); one log row with them, the count and the reason."""
    access.check_writer()
    why = clean_reason(reason)
    q = select(Resident).where(col(Resident.purged_at).is_(None)).order_by(col(Resident.id))
    if access.district_id is not None:
        q = q.where(col(Resident.district_id) == access.district_id)
    s = (search or "").strip()
    if s:
        q = q.where(col(Resident.name).contains(s, autoescape=True))
    residents = list((await session.execute(q)).scalars())
    await access.log(
        session,
        action="resident_export",
        resident_ids=[r.id for r in residents if r.id is not None],
        detail=f"{len(residents)} rows",
        reason=why,
    )
    return residents


async def get_by_name_and_phone(session: AsyncSession, *, district_id: int, name: str, phone: str) -> Resident | None:
    """Return the oldest unpurged resident of the district with this name and E.164 phone, or None."""
    # No unique constraint holds (district, name, phone): two intakes at once can make the same
    # person twice, and a lookup must then still answer rather than fail.
    result = await session.execute(
        select(Resident)
        .where(
            col(Resident.district_id) == district_id,
            col(Resident.name) == name,
            col(Resident.phone) == phone,
            col(Resident.purged_at).is_(None),
            # A record an unverified chat made is not the person: typing their name finds the real one.
            col(Resident.same_as_id).is_(None),
        )
        .order_by(col(Resident.id))
        .limit(1)
    )
    return result.scalar_one_or_none()


async def find_or_create(
    session: AsyncSession,
    *,
    district_id: int,
    name: str,
    phone: str | None,
    values: dict[str, Any] | None = None,
) -> tuple[Resident, bool]:
    """Return the resident with this name and phone in the district (or a new one), and whether it is new."""
    clean = _clean({"name": name, **(values or {})})
    e164 = parsing.parse_phone(phone) if phone else None
    if e164:
        found = await get_by_name_and_phone(session, district_id=district_id, name=clean["name"], phone=e164)
        if found is not None:
            return found, False
    return await create(session, district_id=district_id, name=name, phone=phone, values=values), True


async def create(
    session: AsyncSession,
    *,
    district_id: int,
    name: str,
    phone: str | None,
    values: dict[str, Any] | None = None,
    same_as_id: int | None = None,
) -> Resident:
    """Create and return a resident record (same_as_id: "possibly the same person as" that resident)."""
    cleaned = _clean({"name": name, **(values or {})})
    e164 = parsing.parse_phone(phone) if phone else None
    resident = Resident(district_id=district_id, phone=e164, same_as_id=same_as_id, **cleaned)
    session.add(resident)
    await session.flush()
    return resident
