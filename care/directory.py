"""The district directory: districts, 권역, 행정동, providers and care managers, as admins keep it.

Every function takes the caller's `Access`: an admin of a district changes only that district
(another district's things are NotFound), an admin of no district changes every district and
alone may add one; operators and viewers only read. Nothing is deleted: orders, residents and
referrals point at these rows, so "remove" is `active=False` (hidden from new requests, kept
for what already happened). Every change writes one access-log row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import parsing, prices, registration
from care.auth import Access
from care.catalog import DEFAULTS
from dolbom import clock
from dolbom.errors import DuplicateError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_
from storage.models import (
    CareManager,
    ChannelBinding,
    District,
    Dong,
    Provider,
    ProviderConsulting,
    ProviderRegion,
    ProviderService,
    Region,
)

# What a provider is; the words are the ones the districts use.
PROVIDER_KIND = {
    "cooperative": N_("Cooperative"),
    "social_cooperative": N_("Social cooperative"),
    "social_enterprise": N_("Social enterprise"),
    "self_sufficiency": N_("Self-sufficiency centre"),
    "welfare_agency": N_("Social welfare agency"),
    "health_center": N_("Public health centre"),
}
# A care manager's job type (직렬).
JOB_TYPE = {"social_worker": N_("Social worker"), "nurse": N_("Nurse")}

MSG_NAME = N_("Please write a name.")
MSG_CODE = N_("Please write a district code of letters and digits (for example 11440).")
MSG_KIND = N_("Please choose what kind of organisation this is.")
MSG_JOB = N_("Please choose the job type.")
MSG_CAPACITY = N_("Please write the weekly capacity as a number from 0 to 10000.")
MSG_LEAD_TAKEN = N_("Region {region} already has a lead provider: {provider}.")
MSG_LEAD_NOT_SERVED = N_("A provider can lead only a region it serves.")
MSG_LAST_DISTRICT = N_("A district-bound admin cannot add another district.")
MSG_REGION_COMMA = N_("A region's name cannot have a comma: the workbook lists regions with commas.")
MSG_SAME_MANAGER = N_(
    "{name} is a care manager of this dong already, with the same phone. If this is another person"
    " of the same name, please write their own phone to tell them apart."
)
# Lists in the workbook (a provider's 권역) are written with these.
LIST_SEPARATORS = ",，、"

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
_SERVICES = tuple(d.code.value for d in DEFAULTS)
_DESK_NUMBER = re.compile(r"^[0-9][0-9-]{2,19}$")


# ------------------------------------------------------------------ checks


def _check_read(access: Access, district_id: int | None) -> None:
    if not access.sees(district_id):
        raise NotFound()


def _check_edit(access: Access, district_id: int | None) -> None:
    # A thing of another district is not there at all for this admin (404, like every sealed thing).
    _check_read(access, district_id)
    access.check_admin()


def _name(value: str | None, limit: int = 100) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise InvalidInput(MSG_NAME)
    if len(text) > limit:
        raise InvalidInput(N_("Please keep it under {n} characters."), n=limit)
    parsing.refuse_registration_number(text)
    return text


def _region_name(value: str | None) -> str:
    name = _name(value)
    if any(sep in name for sep in LIST_SEPARATORS):
        raise InvalidInput(MSG_REGION_COMMA)
    return name


def _text(value: str | None, limit: int = 200) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        return None
    if len(text) > limit:
        raise InvalidInput(N_("Please keep it under {n} characters."), n=limit)
    parsing.refuse_registration_number(text)
    return text


def _phone(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    return parsing.parse_phone(text)


def desk_phone(value: str | None) -> str | None:
    """Return a desk's number as stored: a phone in +82 form, or a short or nationwide number as written."""
    # A desk may have a short or nationwide number (120, 1588-0000) that is no one's personal phone.
    text = (value or "").strip()
    if not text:
        return None
    try:
        return parsing.parse_phone(text)
    except InvalidInput:
        if _DESK_NUMBER.match(text):
            return text
        raise


def _capacity(value: int | None) -> int | None:
    if value is None:
        return None
    if not 0 <= value <= 10000:
        raise InvalidInput(MSG_CAPACITY)
    return value


async def _get(session: AsyncSession, model: type, row_id: int) -> Any:
    row: Any = await session.get(model, row_id)
    if row is None:
        raise NotFound()
    return row


async def _deactivate(
    session: AsyncSession, *, access: Access, model: type, row_id: int, action: str, shown: Callable[[Any], str]
) -> Any:
    """Set one row's active flag off (nothing else is checked again or changed), log it, return the row."""
    row: Any = await _get(session, model, row_id)
    _check_edit(access, row.id if model is District else row.district_id)
    row.active = False
    session.add(row)
    await session.flush()
    await access.log(session, action=action, detail=f"{shown(row)} active=False")
    return row


# ------------------------------------------------------------------ districts


async def list_districts(session: AsyncSession, *, access: Access, active_only: bool = False) -> list[District]:
    """Return the districts the caller may see, by name."""
    q = select(District).order_by(col(District.name))
    if access.district_id is not None:
        q = q.where(col(District.id) == access.district_id)
    if active_only:
        q = q.where(col(District.active))
    return list((await session.execute(q)).scalars())


async def get_district(session: AsyncSession, *, access: Access, district_id: int) -> District:
    """Return one district the caller may see; NotFound otherwise."""
    _check_read(access, district_id)
    district: District = await _get(session, District, district_id)
    return district


async def _code_free(session: AsyncSession, code: str, *, besides: int | None = None) -> None:
    q = select(col(District.id)).where(col(District.code) == code)
    if besides is not None:
        q = q.where(col(District.id) != besides)
    if (await session.execute(q)).first() is not None:
        raise DuplicateError(N_("Another district already has the code {code}."), code=code)


async def create_district(
    session: AsyncSession,
    *,
    access: Access,
    code: str,
    name: str,
    phone: str | None = None,
    office_hours: str | None = None,
) -> District:
    """Add a district with this year's standard catalog and return it (admins of no district only)."""
    access.check_admin()
    if access.district_id is not None:
        raise PermissionDenied(MSG_LAST_DISTRICT)
    code = (code or "").strip()
    if not _CODE.match(code):
        raise InvalidInput(MSG_CODE)
    await _code_free(session, code)
    district = District(code=code, name=_name(name), phone=desk_phone(phone), office_hours=_text(office_hours))
    session.add(district)
    await session.flush()
    assert district.id is not None
    await prices.create_defaults(session, district_id=district.id, year=clock.local_now().year)
    await access.log(session, action="district_create", detail=f"{district.code} {district.name}")
    return district


async def update_district(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int,
    code: str,
    name: str,
    phone: str | None,
    office_hours: str | None,
    active: bool = True,
) -> District:
    """Change a district's code, name, desk phone, office hours and active flag; return it."""
    _check_edit(access, district_id)
    district: District = await _get(session, District, district_id)
    code = (code or "").strip()
    if not _CODE.match(code):
        raise InvalidInput(MSG_CODE)
    await _code_free(session, code, besides=district_id)
    district.code, district.name = code, _name(name)
    district.phone, district.office_hours, district.active = desk_phone(phone), _text(office_hours), active
    session.add(district)
    await session.flush()
    await access.log(session, action="district_update", detail=f"{district.code} {district.name} active={active}")
    return district


async def deactivate_district(session: AsyncSession, *, access: Access, district_id: int) -> District:
    """Mark a district inactive (kept with everything in it); return it."""
    district: District = await _deactivate(
        session, access=access, model=District, row_id=district_id, action="district_update", shown=lambda d: d.code
    )
    return district


# ------------------------------------------------------------------ regions and dongs


async def _unique_name(session: AsyncSession, model: type, district_id: int, name: str, besides: int | None) -> None:
    q = select(model.id).where(model.district_id == district_id, model.name == name)  # type: ignore[attr-defined]
    if besides is not None:
        q = q.where(model.id != besides)  # type: ignore[attr-defined]
    if (await session.execute(q)).first() is not None:
        raise DuplicateError(N_("{name} exists already in this district."), name=name)


async def create_region(session: AsyncSession, *, access: Access, district_id: int, name: str) -> Region:
    """Add a 권역 to a district and return it."""
    _check_edit(access, district_id)
    await _get(session, District, district_id)
    name = _region_name(name)
    await _unique_name(session, Region, district_id, name, None)
    region = Region(district_id=district_id, name=name)
    session.add(region)
    await session.flush()
    await access.log(session, action="region_create", detail=f"{district_id} {name}")
    return region


async def update_region(
    session: AsyncSession, *, access: Access, region_id: int, name: str, active: bool = True
) -> Region:
    """Rename a 권역 or change its active flag; return it."""
    region: Region = await _get(session, Region, region_id)
    _check_edit(access, region.district_id)
    name = _region_name(name)
    await _unique_name(session, Region, region.district_id, name, region_id)
    region.name, region.active = name, active
    session.add(region)
    await session.flush()
    await access.log(session, action="region_update", detail=f"{region.district_id} {name} active={active}")
    return region


async def deactivate_region(session: AsyncSession, *, access: Access, region_id: int) -> Region:
    """Mark a 권역 inactive (kept for what points to it); return it."""
    region: Region = await _deactivate(
        session, access=access, model=Region, row_id=region_id, action="region_update", shown=_place
    )
    return region


def _place(row: Region | Dong) -> str:
    return f"{row.district_id} {row.name}"


async def _region_of(session: AsyncSession, district_id: int, region_id: int) -> Region:
    region = await session.get(Region, region_id)
    if region is None or region.district_id != district_id:
        raise NotFound()
    return region


async def create_dong(session: AsyncSession, *, access: Access, district_id: int, region_id: int, name: str) -> Dong:
    """Add a 행정동 in one of the district's 권역 and return it."""
    _check_edit(access, district_id)
    await _region_of(session, district_id, region_id)
    name = _name(name)
    await _unique_name(session, Dong, district_id, name, None)
    dong = Dong(district_id=district_id, region_id=region_id, name=name)
    session.add(dong)
    await session.flush()
    await access.log(session, action="dong_create", detail=f"{district_id} {name}")
    return dong


async def update_dong(
    session: AsyncSession, *, access: Access, dong_id: int, name: str, region_id: int, active: bool = True
) -> Dong:
    """Rename a 행정동, move it to another 권역 of its district or change its active flag; return it."""
    dong: Dong = await _get(session, Dong, dong_id)
    _check_edit(access, dong.district_id)
    await _region_of(session, dong.district_id, region_id)
    name = _name(name)
    await _unique_name(session, Dong, dong.district_id, name, dong_id)
    dong.name, dong.region_id, dong.active = name, region_id, active
    session.add(dong)
    await session.flush()
    await access.log(session, action="dong_update", detail=f"{dong.district_id} {name} active={active}")
    return dong


async def deactivate_dong(session: AsyncSession, *, access: Access, dong_id: int) -> Dong:
    """Mark a 행정동 inactive: new requests no longer offer it, its residents and orders stay; return it."""
    dong: Dong = await _deactivate(
        session, access=access, model=Dong, row_id=dong_id, action="dong_update", shown=_place
    )
    return dong


async def list_active_dongs(session: AsyncSession, *, district_id: int) -> list[Dong]:
    """Return the district's dongs a new request may name (active, in an active 권역), by name."""
    q = (
        select(Dong)
        .join(Region, col(Region.id) == col(Dong.region_id))
        .where(col(Dong.district_id) == district_id, col(Dong.active), col(Region.active))
        .order_by(col(Dong.name))
    )
    return list((await session.execute(q)).scalars())


# ------------------------------------------------------------------ providers


@dataclass
class ProviderSetup:
    """What a provider offers and where: service code → weekly capacity (None: the overall one)."""

    services: dict[str, int | None] = field(default_factory=dict)
    regions: set[int] = field(default_factory=set)
    lead_regions: set[int] = field(default_factory=set)


async def _set_offer(session: AsyncSession, provider: Provider, setup: ProviderSetup) -> None:
    assert provider.id is not None
    unknown = set(setup.services) - set(_SERVICES)
    if unknown:
        raise InvalidInput(N_("Unknown service: {code}."), code=sorted(unknown)[0])
    for cap in setup.services.values():
        _capacity(cap)
    for region_id in setup.regions | setup.lead_regions:
        await _region_of(session, provider.district_id, region_id)
    if not setup.lead_regions <= setup.regions:
        raise InvalidInput(MSG_LEAD_NOT_SERVED)
    for region_id in setup.lead_regions:
        other = (
            await session.execute(
                select(col(Provider.name), col(Region.name))
                .join(ProviderRegion, col(ProviderRegion.provider_id) == col(Provider.id))
                .join(Region, col(Region.id) == col(ProviderRegion.region_id))
                .where(
                    col(ProviderRegion.region_id) == region_id,
                    col(ProviderRegion.is_lead),
                    col(Provider.id) != provider.id,
                    col(Provider.active),
                )
            )
        ).first()
        if other is not None:
            raise InvalidInput(MSG_LEAD_TAKEN, region=other[1], provider=other[0])
    await session.execute(delete(ProviderService).where(col(ProviderService.provider_id) == provider.id))
    await session.execute(delete(ProviderRegion).where(col(ProviderRegion.provider_id) == provider.id))
    for code, cap in setup.services.items():
        session.add(ProviderService(provider_id=provider.id, service_code=code, weekly_capacity=cap))
    for region_id in setup.regions:
        session.add(
            ProviderRegion(provider_id=provider.id, region_id=region_id, is_lead=region_id in setup.lead_regions)
        )
    await session.flush()


def _kind(kind: str) -> str:
    if kind not in PROVIDER_KIND:
        raise InvalidInput(MSG_KIND)
    return kind


async def create_provider(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int,
    name: str,
    kind: str,
    phone: str | None = None,
    weekly_capacity: int = 20,
    setup: ProviderSetup | None = None,
) -> Provider:
    """Add a provider with its services, 권역 served and lead 권역; return it."""
    _check_edit(access, district_id)
    await _get(session, District, district_id)
    name = _name(name)
    await _unique_name(session, Provider, district_id, name, None)
    provider = Provider(
        district_id=district_id,
        name=name,
        kind=_kind(kind),
        phone=_phone(phone),
        weekly_capacity=_capacity(weekly_capacity) or 0,
        # A provider new to the district waits for its pre-registration consulting (decision 0018).
        registration=registration.PENDING,
    )
    session.add(provider)
    await session.flush()
    await _set_offer(session, provider, setup or ProviderSetup())
    await access.log(session, action="provider_create", detail=f"{district_id} {provider.name}")
    return provider


async def update_provider(
    session: AsyncSession,
    *,
    access: Access,
    provider_id: int,
    name: str,
    kind: str,
    phone: str | None,
    weekly_capacity: int,
    active: bool,
    setup: ProviderSetup,
) -> Provider:
    """Change a provider's name, kind, phone, capacity, active flag and what it offers where; return it."""
    provider: Provider = await _get(session, Provider, provider_id)
    _check_edit(access, provider.district_id)
    name = _name(name)
    await _unique_name(session, Provider, provider.district_id, name, provider_id)
    provider.name, provider.kind, provider.phone = name, _kind(kind), _phone(phone)
    provider.weekly_capacity = _capacity(weekly_capacity) or 0
    provider.active = active
    session.add(provider)
    await session.flush()
    await _set_offer(session, provider, setup if active else ProviderSetup(setup.services, setup.regions, set()))
    await access.log(session, action="provider_directory_update", detail=f"{provider.name} active={active}")
    return provider


async def deactivate_provider(session: AsyncSession, *, access: Access, provider_id: int) -> Provider:
    """Mark a provider inactive (no new assignments; its orders stay); return it."""
    provider: Provider = await _deactivate(
        session,
        access=access,
        model=Provider,
        row_id=provider_id,
        action="provider_directory_update",
        shown=lambda p: p.name,
    )
    # An inactive provider leads no 권역: another may take the lead.
    await session.execute(
        ProviderRegion.__table__.update()  # type: ignore[attr-defined]
        .where(ProviderRegion.__table__.c.provider_id == provider_id)  # type: ignore[attr-defined]
        .values(is_lead=False)
    )
    await session.flush()
    return provider


@dataclass
class ProviderView:
    """A provider as its admin page shows it."""

    provider: Provider
    services: dict[str, int | None]
    regions: set[int]
    lead_regions: set[int]
    bindings: list[ChannelBinding]
    consulting: ProviderConsulting | None = None  # the pre-registration consulting, once recorded


async def get_provider(session: AsyncSession, *, access: Access, provider_id: int) -> ProviderView:
    """Return a provider with its services, 권역 and bound staff accounts; NotFound outside the caller's district."""
    provider: Provider = await _get(session, Provider, provider_id)
    _check_read(access, provider.district_id)
    services = {
        s.service_code: s.weekly_capacity
        for s in (
            await session.execute(select(ProviderService).where(col(ProviderService.provider_id) == provider_id))
        ).scalars()
    }
    links = list(
        (await session.execute(select(ProviderRegion).where(col(ProviderRegion.provider_id) == provider_id))).scalars()
    )
    bindings = list(
        (
            await session.execute(
                select(ChannelBinding)
                .where(col(ChannelBinding.provider_id) == provider_id, col(ChannelBinding.revoked_at).is_(None))
                .order_by(col(ChannelBinding.id))
            )
        ).scalars()
    )
    return ProviderView(
        provider=provider,
        services=services,
        regions={link.region_id for link in links},
        lead_regions={link.region_id for link in links if link.is_lead},
        bindings=bindings,
        consulting=await registration.get_consulting(session, provider_id=provider_id),
    )


# ------------------------------------------------------------------ care managers


def _job(job_type: str) -> str:
    if job_type not in JOB_TYPE:
        raise InvalidInput(MSG_JOB)
    return job_type


async def _dong_of(session: AsyncSession, district_id: int, dong_id: int) -> Dong:
    dong = await session.get(Dong, dong_id)
    if dong is None or dong.district_id != district_id:
        raise NotFound()
    return dong


async def _unique_manager(
    session: AsyncSession, *, dong_id: int, name: str, phone: str | None, besides: int | None
) -> None:
    # Two care managers of one name in one dong are real; their phones tell them apart (decision 0016).
    q = select(col(CareManager.id)).where(
        col(CareManager.dong_id) == dong_id,
        col(CareManager.name) == name,
        col(CareManager.phone).is_(None) if phone is None else col(CareManager.phone) == phone,
    )
    if besides is not None:
        q = q.where(col(CareManager.id) != besides)
    if (await session.execute(q)).first() is not None:
        raise DuplicateError(MSG_SAME_MANAGER, name=name)


async def create_care_manager(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int,
    dong_id: int,
    name: str,
    job_type: str = "social_worker",
    phone: str | None = None,
) -> CareManager:
    """Add a dong's care manager and return them."""
    _check_edit(access, district_id)
    await _dong_of(session, district_id, dong_id)
    name, phone = _name(name), _phone(phone)
    await _unique_manager(session, dong_id=dong_id, name=name, phone=phone, besides=None)
    manager = CareManager(district_id=district_id, dong_id=dong_id, name=name, job_type=_job(job_type), phone=phone)
    session.add(manager)
    await session.flush()
    await access.log(session, action="care_manager_create", detail=f"{district_id} {manager.name}")
    return manager


async def update_care_manager(
    session: AsyncSession,
    *,
    access: Access,
    care_manager_id: int,
    dong_id: int,
    name: str,
    job_type: str,
    phone: str | None,
    active: bool = True,
) -> CareManager:
    """Change a care manager's name, dong, job type, phone or active flag; return them."""
    manager: CareManager = await _get(session, CareManager, care_manager_id)
    _check_edit(access, manager.district_id)
    await _dong_of(session, manager.district_id, dong_id)
    name, phone = _name(name), _phone(phone)
    await _unique_manager(session, dong_id=dong_id, name=name, phone=phone, besides=care_manager_id)
    manager.dong_id, manager.name, manager.job_type = dong_id, name, _job(job_type)
    manager.phone, manager.active = phone, active
    session.add(manager)
    await session.flush()
    await access.log(session, action="care_manager_update", detail=f"{manager.name} active={active}")
    return manager


async def deactivate_care_manager(session: AsyncSession, *, access: Access, care_manager_id: int) -> CareManager:
    """Mark a care manager inactive (their referrals stay); return them."""
    manager: CareManager = await _deactivate(
        session,
        access=access,
        model=CareManager,
        row_id=care_manager_id,
        action="care_manager_update",
        shown=lambda m: m.name,
    )
    return manager


# ------------------------------------------------------------------ the whole directory


@dataclass
class Directory:
    """One district's places, providers and care managers, for its admin page and the walk-through."""

    district: District
    regions: list[Region]
    dongs: list[Dong]
    providers: list[Provider]
    care_managers: list[CareManager]
    catalog_rows: int

    @property
    def steps(self) -> dict[str, bool]:
        """Return which set-up steps are done (the walk-through ticks them)."""
        return {
            "desk": bool(self.district.phone),
            "regions": any(r.active for r in self.regions),
            "dongs": any(d.active for d in self.dongs),
            "providers": any(p.active for p in self.providers),
            "care_managers": any(m.active for m in self.care_managers),
            "catalog": self.catalog_rows > 0,
        }


async def get_directory(session: AsyncSession, *, access: Access, district_id: int) -> Directory:
    """Return a district's whole directory (inactive rows too, marked); NotFound outside the caller's district."""
    district = await get_district(session, access=access, district_id=district_id)

    async def rows(model: type, order: Any) -> list[Any]:
        q: Any = select(model).where(model.district_id == district_id).order_by(order)  # type: ignore[attr-defined]
        return list((await session.execute(q)).scalars())

    catalog = await prices.list_catalog(session, district_id=district_id, year=clock.local_now().year)
    return Directory(
        district=district,
        regions=await rows(Region, col(Region.name)),
        dongs=await rows(Dong, col(Dong.name)),
        providers=await rows(Provider, col(Provider.name)),
        care_managers=await rows(CareManager, col(CareManager.name)),
        catalog_rows=len(catalog),
    )


async def has_district(session: AsyncSession) -> bool:
    """Return True when at least one district exists (else the first admin is led to the walk-through)."""
    return (await session.execute(select(col(District.id)).limit(1))).first() is not None
