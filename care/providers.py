"""Providers (제공기관) as the desk sees them: services, regions, capacity, load and rates."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import orders
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_
from storage import orders as store
from storage.models import Assignment, Provider, ProviderRegion, ProviderService, Region


@dataclass
class Stats:
    provider: Provider
    services: list[str] = field(default_factory=list)
    regions: list[tuple[str, bool]] = field(default_factory=list)  # (region name, is lead)
    load_this_week: int = 0
    acceptance_rate: float | None = None  # accepted / decided
    completion_rate: float | None = None  # done / accepted
    assignments: int = 0

    @property
    def capacity_left(self) -> int:
        return max(self.provider.weekly_capacity - self.load_this_week, 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


async def list_providers(session: AsyncSession, *, access: Access, district_id: int | None = None) -> list[Stats]:
    """Return every provider visible to the operator with services, regions, load and rates."""
    q = select(Provider).order_by(col(Provider.district_id), col(Provider.name))
    scope = access.district_id if access.district_id is not None else district_id
    if scope is not None:
        q = q.where(col(Provider.district_id) == scope)
    providers = list((await session.execute(q)).scalars())
    ids = [p.id for p in providers if p.id is not None]
    if not ids:
        return []
    services: dict[int, list[str]] = defaultdict(list)
    for pid, code in (
        await session.execute(
            select(col(ProviderService.provider_id), col(ProviderService.service_code)).where(
                col(ProviderService.provider_id).in_(ids)
            )
        )
    ).all():
        services[pid].append(code)
    regions: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    for pid, name, lead in (
        await session.execute(
            select(col(ProviderRegion.provider_id), col(Region.name), col(ProviderRegion.is_lead))
            .join(Region, col(Region.id) == col(ProviderRegion.region_id))
            .where(col(ProviderRegion.provider_id).in_(ids))
            .order_by(col(Region.name))
        )
    ).all():
        regions[pid].append((name, lead))
    by_status: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, status, n in (
        await session.execute(
            select(col(Assignment.provider_id), col(Assignment.status), func.count())
            .where(col(Assignment.provider_id).in_(ids))
            .group_by(col(Assignment.provider_id), col(Assignment.status))
        )
    ).all():
        by_status[pid][status] = n
    load = await store.provider_load(session, since=orders.week_start(clock.now()), provider_ids=ids)
    out = []
    for p in providers:
        assert p.id is not None
        c = by_status[p.id]
        accepted = c.get("accepted", 0) + c.get("done", 0)
        decided = accepted + c.get("declined", 0) + c.get("expired", 0)
        out.append(
            Stats(
                provider=p,
                services=sorted(services[p.id]),
                regions=regions[p.id],
                load_this_week=load.get(p.id, 0),
                acceptance_rate=_rate(accepted, decided),
                completion_rate=_rate(c.get("done", 0), accepted),
                assignments=sum(c.values()),
            )
        )
    return out


async def update(
    session: AsyncSession, *, provider_id: int, access: Access, active: bool, weekly_capacity: int
) -> Provider:
    """Pause or resume a provider and set its weekly capacity; return it."""
    provider = await session.get(Provider, provider_id)
    if provider is None or not access.sees(provider.district_id):
        raise NotFound()
    if not 0 <= weekly_capacity <= 10_000:
        raise InvalidInput(N_("Please give a capacity between 0 and 10000."))
    provider.active = active
    provider.weekly_capacity = weekly_capacity
    session.add(provider)
    await access.log(
        session, action="provider_update", detail=f"provider {provider_id}: active={active} capacity={weekly_capacity}"
    )
    await session.flush()
    return provider
