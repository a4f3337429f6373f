"""Provider registration (seed 004, "신규 제공기관 등록 시 사전 컨설팅 의무화"): a new provider is
등록 대기 (pending) until its pre-registration consulting is recorded; only then can it receive orders.

The one check that refuses an assignment lives in `care.orders` (every assignment is made there);
the proposal skips pending providers. Which providers start pending is in decision 0018.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from storage.models import Provider, ProviderConsulting

REGISTERED: Final = "registered"
PENDING: Final = "pending"
STATES: Final = {REGISTERED: N_("Registered"), PENDING: N_("Waiting for registration")}

MSG_PENDING: Final = N_(
    "This provider is waiting for registration: it can receive orders once its pre-registration consulting is recorded."
)


def check_can_receive(provider: Provider) -> None:
    """Raise RuleViolation when the provider may not receive orders yet (등록 대기)."""
    if provider.registration != REGISTERED:
        raise RuleViolation(MSG_PENDING)


async def get_consulting(session: AsyncSession, *, provider_id: int) -> ProviderConsulting | None:
    """Return the provider's latest recorded pre-registration consulting, or None."""
    q = (
        select(ProviderConsulting)
        .where(col(ProviderConsulting.provider_id) == provider_id)
        .order_by(col(ProviderConsulting.id).desc())
        .limit(1)
    )
    return (await session.execute(q)).scalars().first()


async def record_consulting(
    session: AsyncSession,
    *,
    access: Access,
    provider_id: int,
    consulted_on: date | None,
    consultant: str,
    note: str | None = None,
) -> ProviderConsulting:
    """Record a provider's pre-registration consulting (admins of its district) and register it; return the record."""
    provider = await session.get(Provider, provider_id)
    if provider is None or not access.sees(provider.district_id):
        raise NotFound()
    access.check_admin()
    consultant = (consultant or "").strip()[:100]
    if consulted_on is None:
        raise InvalidInput(N_("Please give the date of the consulting."))
    if consulted_on > clock.today():
        raise InvalidInput(N_("The consulting cannot be in the future."))
    if not consultant:
        raise InvalidInput(N_("Please write who consulted."))
    assert provider.id is not None
    row = ProviderConsulting(
        provider_id=provider.id,
        consulted_on=consulted_on,
        consultant=consultant,
        note=(note or "").strip()[:2000] or None,
        recorded_by=access.operator_id,
    )
    session.add(row)
    provider.registration = REGISTERED
    session.add(provider)
    await access.log(
        session, action="provider_consulting", detail=f"provider {provider.id}: consulted {consulted_on.isoformat()}"
    )
    await session.flush()
    return row
