"""The eight 돌봄SOS services and their shipped defaults (seed 001, the 2019 manual).

Prices, caps and the annual limit change by district and year; the desk edits
them in the console. These are the defaults a new district starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dolbom.i18n import N_


class ServiceCode(StrEnum):
    HOME_CARE = "home_care"
    SHORT_STAY = "short_stay"
    ESCORT = "escort"
    HOUSING = "housing"
    MEALS = "meals"
    CHECKIN = "checkin"
    HEALTH = "health"
    INFO = "info"


@dataclass(frozen=True)
class ServiceDefault:
    code: ServiceCode
    name: str  # the Korean name the desk and residents know
    unit_label: str  # what one unit is, in Korean
    unit_price: int  # 원 per unit, upper bound
    cap_units: int | None  # per-person cap in units; None = no cap
    cap_label: str  # the cap as the manual states it


DEFAULTS: tuple[ServiceDefault, ...] = (
    ServiceDefault(ServiceCode.HOME_CARE, "일시재가", "3시간", 46_130, 20, "60시간"),
    ServiceDefault(ServiceCode.SHORT_STAY, "단기시설", "1일", 55_710, 14, "14일"),
    ServiceDefault(ServiceCode.ESCORT, "이동지원", "1시간", 14_000, 36, "36시간"),
    ServiceDefault(ServiceCode.HOUSING, "주거편의", "1시간", 14_000, 8, "8시간"),
    ServiceDefault(ServiceCode.MEALS, "식사지원", "1식", 7_200, 30, "30식"),
    ServiceDefault(ServiceCode.CHECKIN, "안부확인", "1회", 0, None, "없음"),
    ServiceDefault(ServiceCode.HEALTH, "건강지원", "1회", 0, None, "없음"),
    ServiceDefault(ServiceCode.INFO, "정보제공", "1회", 0, None, "없음"),
)
BY_CODE: dict[str, ServiceDefault] = {d.code.value: d for d in DEFAULTS}

ANNUAL_SUPPORT_LIMIT = 1_520_000  # 원 per person per year (seed 001)


def default_for(code: str) -> ServiceDefault:
    """Return the shipped default of a service code; KeyError for an unknown code."""
    return BY_CODE[code]


# The question a resident is asked one day after the provider reports completion (care.surveys),
# in the words they know the service by; msgids in English, see locales.
RECEIVED_QUESTION: dict[str, str] = {
    ServiceCode.HOME_CARE.value: N_("Did you get good help at home?"),
    ServiceCode.SHORT_STAY.value: N_("Did your stay at the care facility go well?"),
    ServiceCode.ESCORT.value: N_("Did you get good help going to the hospital and back?"),
    ServiceCode.HOUSING.value: N_("Did you get good help fixing things at home?"),
    ServiceCode.MEALS.value: N_("Did you receive your lunch boxes?"),
    ServiceCode.CHECKIN.value: N_("Did you get the calls or visits to see how you are?"),
    ServiceCode.HEALTH.value: N_("Did you get good help with your health?"),
    ServiceCode.INFO.value: N_("Did you get the information you needed?"),
}
