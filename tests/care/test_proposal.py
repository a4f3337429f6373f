from __future__ import annotations

import pytest

from care.proposal import Candidate, propose, rank
from dolbom.errors import NoProviderAvailable


def cand(pid: int, **kw: object) -> Candidate:
    values: dict[str, object] = {
        "provider_id": pid,
        "name": f"기관{pid}",
        "active": True,
        "offers_service": True,
        "serves_region": True,
        "is_lead": False,
        "weekly_capacity": 10,
        "load_this_week": 0,
    }
    values.update(kw)
    return Candidate(**values)  # type: ignore[arg-type]


def test_the_region_lead_comes_first_even_when_busier() -> None:
    chosen = propose([cand(1, load_this_week=1), cand(2, is_lead=True, load_this_week=8)])
    assert chosen.provider_id == 2
    assert "책임기업" in chosen.reason() and "8/10" in chosen.reason()


def test_a_full_lead_gives_way_to_the_least_loaded() -> None:
    chosen = propose(
        [
            cand(1, is_lead=True, load_this_week=10),
            cand(2, load_this_week=5),
            cand(3, load_this_week=2),
        ]
    )
    assert chosen.provider_id == 3
    assert "부하" in chosen.reason()


def test_paused_out_of_region_and_non_offering_providers_never_fit() -> None:
    ranked = rank([cand(1, active=False), cand(2, serves_region=False), cand(3, offers_service=False), cand(4)])
    assert [c.provider_id for c in ranked] == [4]


@pytest.mark.parametrize(
    ("candidates", "why"),
    [
        ([], "no provider offers this service"),
        ([cand(1, serves_region=False)], "no provider offers this service in this region"),
        ([cand(1, active=False)], "every provider in this region is paused"),
        ([cand(1, load_this_week=10)], "every provider in this region is full this week"),
    ],
)
def test_none_fits_says_why(candidates: list[Candidate], why: str) -> None:
    with pytest.raises(NoProviderAvailable) as raised:
        propose(candidates)
    assert raised.value.params["reason"] == why
