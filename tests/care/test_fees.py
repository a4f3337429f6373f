"""Fee arithmetic as domain.md states it, in integer 원."""

from __future__ import annotations

import pytest

from care import fees
from care.catalog import ANNUAL_SUPPORT_LIMIT, default_for
from dolbom.errors import CapExceeded


def test_thirty_meals_cost_216000() -> None:
    meals = default_for("meals")
    assert fees.amount(units=30, unit_price=meals.unit_price) == 216_000


def test_sixty_hours_of_home_care_are_twenty_units() -> None:
    home = default_for("home_care")
    assert home.unit_label == "3시간" and home.cap_units == 60 // 3
    assert fees.amount(units=20, unit_price=home.unit_price) == 922_600


def test_the_31st_meal_is_refused_by_the_cap() -> None:
    cap = default_for("meals").cap_units
    fees.check_cap(cap_units=cap, used_units=29, new_units=1)
    with pytest.raises(CapExceeded):
        fees.check_cap(cap_units=cap, used_units=30, new_units=1)
    assert fees.remaining_cap(cap_units=cap, used_units=30) == 0


@pytest.mark.parametrize(
    ("code", "price", "cap"),
    [
        ("home_care", 46_130, 20),
        ("short_stay", 55_710, 14),
        ("escort", 14_000, 36),
        ("housing", 14_000, 8),
        ("meals", 7_200, 30),
        ("checkin", 0, None),
        ("health", 0, None),
        ("info", 0, None),
    ],
)
def test_shipped_defaults_match_the_manual(code: str, price: int, cap: int | None) -> None:
    d = default_for(code)
    assert (d.unit_price, d.cap_units) == (price, cap)


def test_services_without_a_cap_are_never_capped() -> None:
    fees.check_cap(cap_units=None, used_units=10_000, new_units=10_000)
    assert fees.remaining_cap(cap_units=None, used_units=5) is None


def test_supported_tiers_pay_nothing_within_the_annual_limit() -> None:
    fee = fees.split(total=216_000, tier="basic", annual_limit=ANNUAL_SUPPORT_LIMIT, supported_so_far=0)
    assert (fee.public, fee.resident) == (216_000, 0)
    fee = fees.split(total=216_000, tier="near_poor", annual_limit=ANNUAL_SUPPORT_LIMIT, supported_so_far=0)
    assert fee.resident == 0


def test_general_residents_pay_in_full() -> None:
    fee = fees.split(total=922_600, tier="general", annual_limit=ANNUAL_SUPPORT_LIMIT, supported_so_far=0)
    assert (fee.public, fee.resident) == (0, 922_600)


def test_the_annual_limit_splits_the_fee_at_1520000() -> None:
    fee = fees.split(total=922_600, tier="basic", annual_limit=1_520_000, supported_so_far=922_600)
    assert fee.public == 1_520_000 - 922_600 == 597_400
    assert fee.resident == 922_600 - 597_400
    assert fee.public + fee.resident == fee.total
    with pytest.raises(CapExceeded):
        fees.check_annual_limit(annual_limit=1_520_000, supported_so_far=922_600, new_public=922_600)
    fees.check_annual_limit(annual_limit=1_520_000, supported_so_far=922_600, new_public=597_400)


def test_money_is_integer() -> None:
    assert isinstance(fees.amount(units=3, unit_price=7_200), int)
    with pytest.raises(ValueError):
        fees.amount(units=-1, unit_price=7_200)
