"""Which provider the desk should assign: the region's lead first, then the least loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dolbom.errors import NoProviderAvailable
from dolbom.i18n import N_, gettext


@dataclass(frozen=True)
class Candidate:
    provider_id: int
    name: str
    active: bool
    offers_service: bool
    serves_region: bool
    is_lead: bool
    weekly_capacity: int
    load_this_week: int
    # False while the provider waits for registration (등록 대기): never proposed nor assignable.
    registered: bool = True

    @property
    def capacity_left(self) -> int:
        return max(self.weekly_capacity - self.load_this_week, 0)


@dataclass(frozen=True)
class Proposal:
    provider_id: int
    reason_msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def reason(self, locale: str | None = None) -> str:
        """Return the one line that explains the choice, in the locale."""
        return gettext(self.reason_msgid, locale, **self.params)


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Return the providers that fit, best first: lead, then lowest load, then most room."""
    fit = [
        c
        for c in candidates
        if c.active and c.registered and c.offers_service and c.serves_region and c.capacity_left > 0
    ]
    return sorted(
        fit,
        key=lambda c: (
            not c.is_lead,
            c.load_this_week / max(c.weekly_capacity, 1),
            -c.capacity_left,
            c.provider_id,
        ),
    )


def propose(candidates: list[Candidate]) -> Proposal:
    """Return the provider to propose; raise NoProviderAvailable saying why none fits."""
    ranked = rank(candidates)
    if ranked:
        best = ranked[0]
        params = {"name": best.name, "load": best.load_this_week, "capacity": best.weekly_capacity}
        if best.is_lead:
            return Proposal(best.provider_id, N_("{name}: the region's lead, {load}/{capacity} this week"), params)
        return Proposal(
            best.provider_id,
            N_("{name}: least loaded while the lead has no room, {load}/{capacity} this week"),
            params,
        )
    offering = [c for c in candidates if c.offers_service]
    if not offering:
        reason = N_("no provider offers this service")
    elif not any(c.serves_region for c in offering):
        reason = N_("no provider offers this service in this region")
    elif not any(c.active for c in offering if c.serves_region):
        reason = N_("every provider in this region is paused")
    elif not any(c.registered for c in offering if c.serves_region and c.active):
        reason = N_("every provider in this region is waiting for registration")
    else:
        reason = N_("every provider in this region is full this week")
    raise NoProviderAvailable(reason=reason)
