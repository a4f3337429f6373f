"""The 돌봄SOS pre-screen: 65+ or disabled, and at least one of three situations.

The bot pre-screens; the care manager or the desk decides. Anyone may still buy
a service at full price, so a "no" here never blocks a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dolbom.i18n import N_, gettext

ELDERLY_AGE = 65


@dataclass(frozen=True)
class Screen:
    eligible: bool
    reason_msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def reason(self, locale: str | None = None) -> str:
        """Return the reason as one sentence in the locale (Korean by default)."""
        params = dict(self.params)
        if "situations" in params:
            params["situations"] = ", ".join(gettext(s, locale) for s in params["situations"])
        if "who" in params and isinstance(params["who"], str):
            params["who"] = gettext(params["who"], locale, age=params.get("age"))
        return gettext(self.reason_msgid, locale, **params)


CANNOT_MANAGE = N_("finds it hard to move about or manage daily life alone")
NO_PUBLIC_SERVICE = N_("uses no public service, or has a gap in service")
NO_FAMILY_CARE = N_("has no family who can look after them")
ELDERLY = N_("aged {age}")
DISABLED = N_("a person with a disability")


def prescreen(
    *,
    birth_year: int | None,
    disabled: bool | None,
    cannot_manage_alone: bool | None,
    no_public_service: bool | None,
    no_family_care: bool | None,
    this_year: int,
) -> Screen:
    """Return whether the resident looks eligible for 돌봄SOS, with the reason in Korean."""
    age = this_year - birth_year if birth_year else None
    is_elderly = age is not None and age >= ELDERLY_AGE
    if not is_elderly and not disabled:
        if age is None and disabled is None:
            return Screen(False, N_("Age and disability are not known yet; please check them."))
        return Screen(
            False,
            N_("Under 65 and without a disability: not eligible, but may use services at full price."),
        )
    situations = [
        (CANNOT_MANAGE, cannot_manage_alone),
        (NO_PUBLIC_SERVICE, no_public_service),
        (NO_FAMILY_CARE, no_family_care),
    ]
    met = [label for label, value in situations if value]
    params: dict[str, Any] = {"who": ELDERLY if is_elderly else DISABLED, "age": age}
    if met:
        return Screen(True, N_("Looks eligible: {who}, {situations}."), {**params, "situations": met})
    if all(value is None for _, value in situations):
        return Screen(False, N_("{who}; the three situations are not checked yet."), params)
    return Screen(False, N_("{who}, but none of the three situations holds: not eligible."), params)
