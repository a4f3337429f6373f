from __future__ import annotations

from care.eligibility import prescreen

YEAR = 2026


def screen(**kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "birth_year": 1944,
        "disabled": False,
        "cannot_manage_alone": None,
        "no_public_service": None,
        "no_family_care": None,
        "this_year": YEAR,
    }
    values.update(kw)
    return prescreen(**values)  # type: ignore[arg-type]


def test_elderly_living_without_family_care_is_eligible_with_reason_in_korean() -> None:
    result = screen(no_family_care=True)
    assert result.eligible
    assert "82세" in result.reason() and "가족" in result.reason()


def test_disabled_younger_resident_with_a_situation_is_eligible() -> None:
    assert screen(birth_year=1980, disabled=True, cannot_manage_alone=True).eligible


def test_age_alone_is_not_enough() -> None:
    result = screen(cannot_manage_alone=False, no_public_service=False, no_family_care=False)
    assert not result.eligible and "해당하지 않아" in result.reason()


def test_under_65_without_disability_may_still_pay_in_full() -> None:
    result = screen(birth_year=1970, no_family_care=True)
    assert not result.eligible and "자부담" in result.reason()


def test_sixty_five_is_the_threshold() -> None:
    assert screen(birth_year=YEAR - 65, no_family_care=True).eligible
    assert not screen(birth_year=YEAR - 64, no_family_care=True).eligible


def test_unknown_answers_say_what_to_check() -> None:
    assert "확인" in screen(birth_year=None, disabled=None).reason()
    assert not screen().eligible


def test_english_reason() -> None:
    assert "eligible" in screen(no_family_care=True).reason("en").lower()
