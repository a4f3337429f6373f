"""Fees, per-person caps, the annual support limit, and who pays. Integer 원 only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dolbom.errors import CapExceeded


class IncomeTier(StrEnum):
    BASIC = "basic"  # 기초생활수급자
    NEAR_POOR = "near_poor"  # 차상위계층
    GENERAL = "general"  # 일반시민
    UNKNOWN = "unknown"  # 잘 모르겠어요: the desk confirms


PUBLICLY_SUPPORTED: frozenset[IncomeTier] = frozenset({IncomeTier.BASIC, IncomeTier.NEAR_POOR})


@dataclass(frozen=True)
class Price:
    unit_price: int
    cap_units: int | None
    no_show_units: int = 0  # units a no-show bills (the catalog's rule; 0: not billed)


@dataclass(frozen=True)
class Fee:
    total: int  # units × unit price
    public: int  # paid by public support
    resident: int  # paid by the resident (본인부담)


def amount(*, units: int, unit_price: int) -> int:
    """Return units × unit price in 원."""
    if units < 0 or unit_price < 0:
        raise ValueError("units and prices are never negative")
    return units * unit_price


def remaining_cap(*, cap_units: int | None, used_units: int) -> int | None:
    """Return the units left under a per-person cap (None when the service has no cap)."""
    if cap_units is None:
        return None
    return max(cap_units - used_units, 0)


def check_cap(*, cap_units: int | None, used_units: int, new_units: int) -> None:
    """Raise CapExceeded when new units would pass the per-person cap."""
    left = remaining_cap(cap_units=cap_units, used_units=used_units)
    if left is not None and new_units > left:
        raise CapExceeded(detail=f"cap {cap_units}, used {used_units}, asked {new_units}")


def split(*, total: int, tier: str, annual_limit: int, supported_so_far: int) -> Fee:
    """Return who pays what: 수급/차상위 are supported up to the annual limit, 일반 pays in full."""
    if IncomeTier(tier) not in PUBLICLY_SUPPORTED:
        return Fee(total=total, public=0, resident=total)
    left = max(annual_limit - supported_so_far, 0)
    public = min(total, left)
    return Fee(total=total, public=public, resident=total - public)


def check_annual_limit(*, annual_limit: int, supported_so_far: int, new_public: int) -> None:
    """Raise CapExceeded when public support would pass the annual limit per person."""
    if supported_so_far + new_public > annual_limit:
        raise CapExceeded(detail=f"annual limit {annual_limit}, used {supported_so_far}, asked {new_public}")
