"""Parsing of what people type at the desk: phones, dates, birth years, registration numbers.

Dates use a small parser of our own, not dateparser: dateparser 1.5 (languages=["ko"]) returns
None for 모레, 글피, 3일 뒤, 다음 주 화요일, 이번 주 금요일 and 내일까지, and gets 25일 (+25 days),
11/25 (year 2111) and 다음 달 5일 wrong. Phones use phonenumbers, which does that job well.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, timedelta
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from care import registration_numbers
from dolbom.errors import InvalidInput
from dolbom.i18n import N_

__all__ = [
    "MSG_BIRTH_YEAR",
    "MSG_DATE_NONEXISTENT",
    "MSG_DATE_PAST",
    "MSG_DATE_UNKNOWN",
    "MSG_DATE_WEEKDAY_MISMATCH",
    "MSG_PHONE",
    "contains_registration_number",
    "format_date",
    "format_phone",
    "parse_birth_year",
    "parse_date",
    "parse_phone",
    "phone_last4",
    "refuse_registration_number",
]

MSG_PHONE: Final = N_("Please type a phone number like 010-1234-5678.")
MSG_DATE_UNKNOWN: Final = N_("Please type a date such as tomorrow, next Tuesday or November 25.")
MSG_DATE_PAST: Final = N_("That date has passed. Please choose today or a later date.")
MSG_DATE_NONEXISTENT: Final = N_("That date does not exist. Please check the month and day.")
MSG_DATE_WEEKDAY_MISMATCH: Final = N_("The day of the week does not match that date.")
MSG_BIRTH_YEAR: Final = N_("Please type a birth year like 1942, or an age like 82세.")

# ---------------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------------

# Anything else (letters, Hangul) is refused up front: phonenumbers would otherwise read
# vanity letters as digits or quietly drop trailing words.
_PHONE_CHARS = re.compile(r"[0-9+\-().\s]+")

# A person's contact number: 1588 service numbers, 080 toll-free or 060 premium lines reach no
# one in particular, so they are refused even though phonenumbers calls them valid.
_PERSONAL_TYPES: Final = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
    }
)


def _nfkc(text: str) -> str:
    """Return text with full-width digits and signs folded to ASCII, trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def _parse_phone_number(text: str) -> phonenumbers.PhoneNumber:
    """Return the valid personal Korean number in text; raise InvalidInput."""
    cleaned = _nfkc(text)
    if not cleaned or not _PHONE_CHARS.fullmatch(cleaned):
        raise InvalidInput(MSG_PHONE)
    try:
        number = phonenumbers.parse(cleaned, "KR")
    except NumberParseException:
        raise InvalidInput(MSG_PHONE) from None
    if (
        number.country_code != 82
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in _PERSONAL_TYPES
    ):
        raise InvalidInput(MSG_PHONE)
    return number


def parse_phone(text: str) -> str:
    """Return a Korean phone number in E.164 (+821012345678); raise InvalidInput."""
    return phonenumbers.format_number(_parse_phone_number(text), PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """Return the number as Koreans write it: 010-1234-5678 (02-123-4567 for Seoul landlines)."""
    return phonenumbers.format_number(_parse_phone_number(e164), PhoneNumberFormat.NATIONAL)


def phone_last4(e164: str) -> str:
    """Return the last four digits of the number, as staff read them back to callers."""
    return parse_phone(e164)[-4:]


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_WEEKDAYS: Final = "월화수목금토일"  # index == date.weekday()
_WD = r"(?P<wd>[월화수목금토일])(?:요일|욜)"

# Particles and politeness endings people put after a date; stripped repeatedly, longest first.
_TRAILERS: Final = (
    "입니다",
    "이에요",
    "이요",
    "에요",
    "예요",
    "까지",
    "부터",
    "즈음",
    "정도",
    "으로",
    "쯤",
    "경",
    "에",
    "요",
    "로",
    "은",
    "는",
)
_TRAILING_PUNCT: Final = " \t\r\n.,!?~"

_FIXED_OFFSETS: Final = {
    "오늘": 0,
    "금일": 0,
    "내일": 1,
    "명일": 1,
    "다음날": 1,
    "모레": 2,
    "내일모레": 2,
    "글피": 3,
}
_NATIVE_DAY_COUNTS: Final = {
    "하루": 1,
    "이틀": 2,
    "사흘": 3,
    "나흘": 4,
    "닷새": 5,
    "엿새": 6,
    "이레": 7,
    "일주일": 7,
}

_RE_WEEKDAY = re.compile(rf"(?P<week>이번주|금주|이번|다음주|담주|차주|다다음주)?{_WD}")
_RE_AFTER = re.compile(
    r"(?:(?P<n>\d{1,3})(?P<unit>일|주일|주)|(?P<native>" + "|".join(_NATIVE_DAY_COUNTS) + r"))(?:후|뒤|있다가|지나서)"
)
_RE_YMD = re.compile(r"(?P<y>\d{4})(?:년|\s*[-./]\s*|\s+)(?P<m>\d{1,2})(?:월|\s*[-./]\s*|\s+)(?P<d>\d{1,2})일?")
_RE_YMD_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})")
_RE_MD = re.compile(r"(?P<m>\d{1,2})(?:월|\s*[-./]\s*)(?P<d>\d{1,2})일?")
_RE_MONTH_DAY = re.compile(r"(?P<which>이번달|금월|다음달|담달|내달)(?P<d>\d{1,2})일")
_RE_DAY = re.compile(r"(?P<d>\d{1,2})일")
# The bot echoes '11월 25일 (화)'; people copy it back, with or without the brackets.
_RE_WEEKDAY_SUFFIX = re.compile(rf"\(?{_WD}\)?$|\((?P<wd2>[월화수목금토일])\)$")


def _normalise_date_text(text: str) -> str:
    """Return text folded, without trailing particles, and with spaces kept only between digits."""
    s = _nfkc(text)
    # Spaces inside Korean phrases vary (다음 주 / 다음주), but between numbers they separate.
    s = re.sub(r"(?<![0-9])\s+|\s+(?![0-9])", "", s)
    while True:
        before = s
        s = s.rstrip(_TRAILING_PUNCT)
        for trailer in _TRAILERS:
            if s.endswith(trailer) and len(s) > len(trailer):
                s = s[: -len(trailer)]
                break
        if s == before:
            return s


def _make_date(year: int, month: int, day: int) -> date:
    """Return date(year, month, day); raise InvalidInput when no such day exists."""
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        raise InvalidInput(MSG_DATE_NONEXISTENT) from None


def _not_past(d: date, today: date) -> date:
    """Return d; raise InvalidInput when it lies before today."""
    if d < today:
        raise InvalidInput(MSG_DATE_PAST)
    return d


def _add_months(d: date, months: int) -> tuple[int, int]:
    """Return (year, month) that is months after d's month."""
    index = d.year * 12 + d.month - 1 + months
    return index // 12, index % 12 + 1


def _split_weekday_suffix(s: str) -> tuple[str, int | None]:
    """Return s without a trailing weekday like '(화)' or '화요일', and that weekday if any."""
    match = _RE_WEEKDAY_SUFFIX.search(s)
    if match is None or match.start() == 0:
        return s, None
    letter = match.group("wd") or match.group("wd2")
    return s[: match.start()], _WEEKDAYS.index(letter)


def _parse_weekday_phrase(match: re.Match[str], today: date) -> date:
    """Return the date a weekday phrase such as '다음주 화요일' names."""
    weekday = _WEEKDAYS.index(match.group("wd"))
    week = match.group("week")
    monday = today - timedelta(days=today.weekday())
    if week is None:
        # A bare weekday is its next occurrence strictly after today: on a Tuesday, '화요일'
        # means a week ahead, since same-day requests are said as '오늘'.
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    if week in ("다음주", "담주", "차주"):
        return monday + timedelta(days=7 + weekday)
    if week == "다다음주":
        return monday + timedelta(days=14 + weekday)
    return _not_past(monday + timedelta(days=weekday), today)


def _parse_dated(s: str, today: date) -> date | None:
    """Return the date a calendar form (2026-11-25, 11월 25일, 25일, ...) names, or None."""
    if match := (_RE_YMD.fullmatch(s) or _RE_YMD_COMPACT.fullmatch(s)):
        year, month, day = (int(match.group(k)) for k in ("y", "m", "d"))
        return _not_past(_make_date(year, month, day), today)
    if match := _RE_MD.fullmatch(s):
        month, day = int(match.group("m")), int(match.group("d"))
        # A month-day already gone this year means next year's.
        year = today.year if (month, day) >= (today.month, today.day) else today.year + 1
        return _make_date(year, month, day)
    if match := _RE_MONTH_DAY.fullmatch(s):
        day = int(match.group("d"))
        if match.group("which") in ("이번달", "금월"):
            return _not_past(_make_date(today.year, today.month, day), today)
        year, month = _add_months(today, 1)
        return _make_date(year, month, day)
    if match := _RE_DAY.fullmatch(s):
        day = int(match.group("d"))
        if not 1 <= day <= 31:
            raise InvalidInput(MSG_DATE_NONEXISTENT)
        year, month = (today.year, today.month) if day >= today.day else _add_months(today, 1)
        if day > calendar.monthrange(year, month)[1]:
            raise InvalidInput(MSG_DATE_NONEXISTENT)
        return date(year, month, day)
    return None


def parse_date(text: str, *, today: date) -> date:
    """Return the date Korean free text means relative to today (Seoul); raise InvalidInput."""
    try:
        return _parse_date(_normalise_date_text(text), today)
    except (ValueError, OverflowError):
        # Only reachable past year 9999, where date arithmetic runs out.
        raise InvalidInput(MSG_DATE_NONEXISTENT) from None


def _parse_date(s: str, today: date) -> date:
    """Return the date normalised text s names relative to today; raise InvalidInput."""
    if s in _FIXED_OFFSETS:
        return today + timedelta(days=_FIXED_OFFSETS[s])
    if match := _RE_WEEKDAY.fullmatch(s):
        return _parse_weekday_phrase(match, today)
    if match := _RE_AFTER.fullmatch(s):
        if match.group("native"):
            days = _NATIVE_DAY_COUNTS[match.group("native")]
        else:
            days = int(match.group("n")) * (7 if match.group("unit").startswith("주") else 1)
        return today + timedelta(days=days)
    body, weekday = _split_weekday_suffix(s)
    result = _parse_dated(body, today)
    if result is None:
        raise InvalidInput(MSG_DATE_UNKNOWN)
    if weekday is not None and result.weekday() != weekday:
        raise InvalidInput(MSG_DATE_WEEKDAY_MISMATCH)
    return result


def format_date(d: date) -> str:
    """Return e.g. '11월 25일 (화)' — the form the bot echoes back for confirmation."""
    return f"{d.month}월 {d.day}일 ({_WEEKDAYS[d.weekday()]})"


# ---------------------------------------------------------------------------------------------
# Resident registration numbers (주민등록번호)
# ---------------------------------------------------------------------------------------------

# The one detector lives in care.registration_numbers (decision 0008); these names stay for callers.


def contains_registration_number(text: str) -> bool:
    """True when text holds something shaped like a resident registration number (주민등록번호)."""
    return registration_numbers.contains(text)


def refuse_registration_number(text: str) -> None:
    """Raise RegistrationNumberRefused when text holds one; used on every free-text answer."""
    registration_numbers.refuse(text)


# ---------------------------------------------------------------------------------------------
# Birth years
# ---------------------------------------------------------------------------------------------

_RE_YEAR4 = re.compile(r"(?P<y>\d{4})(?:년도?)?생?")
_RE_YEAR2 = re.compile(r"(?P<y>\d{2})년생?")
_RE_BIRTHDAY = re.compile(r"(?P<y>\d{4})(?:년|[-./])\d{1,2}(?:월|[-./])\d{1,2}일?생?")
_RE_AGE = re.compile(r"(?:만)?(?P<age>\d{1,3})(?:세|살)")


def parse_birth_year(text: str, *, today: date) -> int:
    """Return the birth year '1942', '42년생', '1942년' or '만 82세' names; raise InvalidInput."""
    s = re.sub(r"\s+", "", _nfkc(text)).rstrip(".!?~")
    for ending in ("입니다", "이에요", "예요", "에요", "이요", "요"):
        if s.endswith(ending) and len(s) > len(ending):
            s = s[: -len(ending)]
            break
    year: int | None = None
    if match := (_RE_YEAR4.fullmatch(s) or _RE_BIRTHDAY.fullmatch(s)):
        year = int(match.group("y"))
    elif match := _RE_YEAR2.fullmatch(s):
        # Two digits name the latest such year that is not in the future ('42년생' -> 1942).
        yy = int(match.group("y"))
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    elif match := _RE_AGE.fullmatch(s):
        # Since 2023 the law reads a bare '82세' as 만 나이 too. Someone whose birthday is still
        # to come this year was born a year earlier; without the birthday we cannot tell.
        year = today.year - int(match.group("age"))
    if year is None or not 1900 <= year <= today.year:
        raise InvalidInput(MSG_BIRTH_YEAR)
    return year
