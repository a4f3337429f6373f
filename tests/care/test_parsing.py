"""Table-driven tests of care.parsing."""

from __future__ import annotations

from datetime import date

import pytest

from care import parsing
from care.parsing import (
    contains_registration_number,
    format_date,
    format_phone,
    parse_birth_year,
    parse_date,
    parse_phone,
    phone_last4,
    refuse_registration_number,
)
from dolbom.errors import InvalidInput, RegistrationNumberRefused

SUNDAY = date(2026, 11, 22)
WEDNESDAY = date(2026, 11, 25)
YEAR_END = date(2026, 12, 30)  # a Wednesday

# Korean IMEs often type full-width digits; built here so ruff's confusables check stays quiet.
_FULLWIDTH = str.maketrans("0123456789-", "".join(chr(0xFF10 + i) for i in range(10)) + "\uff0d")


def fullwidth(text: str) -> str:
    """Return text with ASCII digits and hyphens swapped for their full-width forms."""
    return text.translate(_FULLWIDTH)


# --- phones ----------------------------------------------------------------------------------

PHONES_OK = [
    ("010-1234-5678", "+821012345678"),
    ("01012345678", "+821012345678"),
    ("010 1234 5678", "+821012345678"),
    ("  010.1234.5678 ", "+821012345678"),
    ("(010) 1234-5678", "+821012345678"),
    ("+82 10-1234-5678", "+821012345678"),
    ("+821012345678", "+821012345678"),
    ("82-10-1234-5678", "+821012345678"),
    (fullwidth("010-1234-5678"), "+821012345678"),
    ("02-123-4567", "+8221234567"),
    ("02-1234-5678", "+82212345678"),
    ("031-123-4567", "+82311234567"),
    ("070-1234-5678", "+827012345678"),
]

PHONES_BAD = [
    "",
    "010-1234",
    "010-1234-56789",
    "123",
    "010-abcd-5678",
    "전화 010-1234-5678",
    "010-1234-5678 입니다",
    "1588-1234",  # a service number reaches no one in particular
    "080-123-4567",
    "+1 650-253-0000",
    "+81 90-1234-5678",
    "421015-2345678",
]


@pytest.mark.parametrize(("text", "expected"), PHONES_OK)
def test_parse_phone_accepts(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize("text", PHONES_BAD)
def test_parse_phone_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_phone(text)
    assert info.value.msgid == parsing.MSG_PHONE


@pytest.mark.parametrize(
    ("e164", "national", "last4"),
    [
        ("+821012345678", "010-1234-5678", "5678"),
        ("+8221234567", "02-123-4567", "4567"),
        ("+82212345678", "02-1234-5678", "5678"),
        ("+82311234567", "031-123-4567", "4567"),
    ],
)
def test_format_phone_and_last4(e164: str, national: str, last4: str) -> None:
    assert format_phone(e164) == national
    assert phone_last4(e164) == last4
    assert parse_phone(format_phone(e164)) == e164


# --- dates -----------------------------------------------------------------------------------

DATES_OK = [
    # (today, text, expected)
    (SUNDAY, "오늘", date(2026, 11, 22)),
    (SUNDAY, "내일", date(2026, 11, 23)),
    (SUNDAY, "모레", date(2026, 11, 24)),
    (SUNDAY, "글피", date(2026, 11, 25)),
    (SUNDAY, "내일까지", date(2026, 11, 23)),
    (SUNDAY, "내일이요", date(2026, 11, 23)),
    (SUNDAY, "모레쯤", date(2026, 11, 24)),
    (SUNDAY, "다음주 화요일", date(2026, 11, 24)),
    (SUNDAY, "다음 주 화요일", date(2026, 11, 24)),
    (SUNDAY, "다음 주 화요일부터요", date(2026, 11, 24)),
    (SUNDAY, "다음주 금요일", date(2026, 11, 27)),
    (SUNDAY, "이번주 일요일", date(2026, 11, 22)),
    (SUNDAY, "화요일", date(2026, 11, 24)),
    (SUNDAY, "일요일", date(2026, 11, 29)),  # a bare weekday is strictly after today
    (SUNDAY, "11월 25일", date(2026, 11, 25)),
    (SUNDAY, "11월25일", date(2026, 11, 25)),
    (SUNDAY, "11월 25일에", date(2026, 11, 25)),
    (SUNDAY, "11/25", date(2026, 11, 25)),
    (SUNDAY, "11월 22일", date(2026, 11, 22)),
    (SUNDAY, "11월 20일", date(2027, 11, 20)),  # a past month-day means next year
    (SUNDAY, "1월 3일", date(2027, 1, 3)),
    (SUNDAY, "25일", date(2026, 11, 25)),
    (SUNDAY, "30일", date(2026, 11, 30)),
    (SUNDAY, "5일", date(2026, 12, 5)),  # past day of month means next month
    (SUNDAY, "2026-11-25", date(2026, 11, 25)),
    (SUNDAY, "2026.11.25", date(2026, 11, 25)),
    (SUNDAY, "2026. 11. 25.", date(2026, 11, 25)),
    (SUNDAY, "2026/11/25", date(2026, 11, 25)),
    (SUNDAY, "2026년 11월 25일", date(2026, 11, 25)),
    (SUNDAY, "20261125", date(2026, 11, 25)),
    (SUNDAY, "3일 후", date(2026, 11, 25)),
    (SUNDAY, "3일 뒤", date(2026, 11, 25)),
    (SUNDAY, "3일뒤에", date(2026, 11, 25)),
    (SUNDAY, "이틀 뒤", date(2026, 11, 24)),
    (SUNDAY, "1주일 후", date(2026, 11, 29)),
    (SUNDAY, "다음 달 5일", date(2026, 12, 5)),
    (SUNDAY, "다음달 30일", date(2026, 12, 30)),
    (SUNDAY, fullwidth("11월 25일"), date(2026, 11, 25)),
    (SUNDAY, "11월 25일 (수)", date(2026, 11, 25)),  # the bot's own echo, copied back
    (SUNDAY, "11월 25일 수요일", date(2026, 11, 25)),
    (WEDNESDAY, "이번 주 금요일", date(2026, 11, 27)),
    (WEDNESDAY, "이번주 수요일", date(2026, 11, 25)),
    (WEDNESDAY, "다음주 화요일", date(2026, 12, 1)),
    (WEDNESDAY, "화요일", date(2026, 12, 1)),
    (WEDNESDAY, "수요일", date(2026, 12, 2)),
    (YEAR_END, "1월 3일", date(2027, 1, 3)),
    (YEAR_END, "내일", date(2026, 12, 31)),
    (YEAR_END, "모레", date(2027, 1, 1)),
    (YEAR_END, "3일", date(2027, 1, 3)),
    (YEAR_END, "다음 달 5일", date(2027, 1, 5)),
    (YEAR_END, "다음주 월요일", date(2027, 1, 4)),
    (YEAR_END, "12월 31일", date(2026, 12, 31)),
    (date(2027, 3, 1), "2월 29일", date(2028, 2, 29)),
]

DATES_BAD = [
    # (today, text, msgid)
    (SUNDAY, "2025-01-01", parsing.MSG_DATE_PAST),
    (SUNDAY, "2026-11-21", parsing.MSG_DATE_PAST),
    (SUNDAY, "이번 주 금요일", parsing.MSG_DATE_PAST),
    (SUNDAY, "이번주 금요일", parsing.MSG_DATE_PAST),
    (SUNDAY, "이번 달 5일", parsing.MSG_DATE_PAST),
    (SUNDAY, "2월 30일", parsing.MSG_DATE_NONEXISTENT),
    (SUNDAY, "2월 29일", parsing.MSG_DATE_NONEXISTENT),  # 2027 is not a leap year
    (SUNDAY, "13월 1일", parsing.MSG_DATE_NONEXISTENT),
    (SUNDAY, "31일", parsing.MSG_DATE_NONEXISTENT),  # November has 30 days
    (SUNDAY, "2026-11-31", parsing.MSG_DATE_NONEXISTENT),
    (SUNDAY, "다음 달 32일", parsing.MSG_DATE_NONEXISTENT),
    (SUNDAY, "11월 25일 (화)", parsing.MSG_DATE_WEEKDAY_MISMATCH),
    (SUNDAY, "", parsing.MSG_DATE_UNKNOWN),
    (SUNDAY, "언젠가", parsing.MSG_DATE_UNKNOWN),
    (SUNDAY, "다음주", parsing.MSG_DATE_UNKNOWN),
    (SUNDAY, "25", parsing.MSG_DATE_UNKNOWN),
    (SUNDAY, "에", parsing.MSG_DATE_UNKNOWN),
    (SUNDAY, "내일 오후 3시", parsing.MSG_DATE_UNKNOWN),
]


@pytest.mark.parametrize(("today", "text", "expected"), DATES_OK)
def test_parse_date_accepts(today: date, text: str, expected: date) -> None:
    assert parse_date(text, today=today) == expected


@pytest.mark.parametrize(("today", "text", "msgid"), DATES_BAD)
def test_parse_date_rejects(today: date, text: str, msgid: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_date(text, today=today)
    assert info.value.msgid == msgid


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2025, 11, 25), "11월 25일 (화)"),
        (date(2026, 11, 22), "11월 22일 (일)"),
        (date(2027, 1, 3), "1월 3일 (일)"),
        (date(2026, 12, 7), "12월 7일 (월)"),
    ],
)
def test_format_date(d: date, expected: str) -> None:
    assert format_date(d) == expected


@pytest.mark.parametrize("offset", [0, 1, 5, 40, 200])
def test_format_date_round_trips(offset: int) -> None:
    d = date.fromordinal(SUNDAY.toordinal() + offset)
    assert parse_date(format_date(d), today=SUNDAY) == d


# --- resident registration numbers -----------------------------------------------------------

RRN_PRESENT = [
    "421015-2345678",
    "4210152345678",
    "421015 2345678",
    "421015 - 2345678",
    "421015\u20132345678",  # en dash
    fullwidth("421015-2345678"),
    "제 주민번호는 421015-2345678 입니다",
    "주민번호:421015-2345678.",
    "991231-1234567",
    "000101-3234567",
    "010101-8123456",
]

RRN_ABSENT = [
    "",
    "010-1234-5678",
    "01012345678",
    "+82 10-1234-5678",
    "010-1234-5678, 02-123-4567",
    "2611-04827",
    "접수번호 2611-04827 입니다",
    "2026-11-25",
    "20261125",
    "2026년 11월 25일",
    "421315-2345678",  # month 13
    "421032-2345678",  # day 32
    "421015-9345678",  # 9 is no gender digit
    "421015-0345678",
    "421015-234567",  # one digit short
    "421015-23456789",  # one digit long
    "1421015-2345678",
    "42년생",
    "1942",
    "만 82세",
]


@pytest.mark.parametrize("text", RRN_PRESENT)
def test_registration_number_found_and_refused(text: str) -> None:
    assert contains_registration_number(text) is True
    with pytest.raises(RegistrationNumberRefused) as info:
        refuse_registration_number(text)
    assert isinstance(info.value, InvalidInput)
    assert info.value.msgid == RegistrationNumberRefused.msgid


@pytest.mark.parametrize("text", RRN_ABSENT)
def test_registration_number_absent(text: str) -> None:
    assert contains_registration_number(text) is False
    refuse_registration_number(text)  # must not raise


# --- birth years -----------------------------------------------------------------------------

BIRTH_YEARS_OK = [
    ("1942", 1942),
    (fullwidth("1942"), 1942),
    ("1942년", 1942),
    ("1942년생", 1942),
    ("1942년생이에요", 1942),
    ("42년생", 1942),
    ("42년", 1942),
    ("05년생", 2005),
    ("26년생", 2026),
    ("27년생", 1927),  # 2027 lies ahead, so the 1900s
    ("만 82세", 1944),
    ("만82세", 1944),
    ("82세", 1944),
    ("82살", 1944),
    ("1942년 10월 15일", 1942),
    ("1942.10.15", 1942),
    ("1900", 1900),
    ("2026", 2026),
]

BIRTH_YEARS_BAD = [
    "",
    "42",
    "1899",
    "2027",
    "130세",
    "백 살",
    "421015",
    "1942년 봄",
    "모름",
]


@pytest.mark.parametrize(("text", "expected"), BIRTH_YEARS_OK)
def test_parse_birth_year_accepts(text: str, expected: int) -> None:
    assert parse_birth_year(text, today=SUNDAY) == expected


@pytest.mark.parametrize("text", BIRTH_YEARS_BAD)
def test_parse_birth_year_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_birth_year(text, today=SUNDAY)
    assert info.value.msgid == parsing.MSG_BIRTH_YEAR


def test_birth_year_from_age_follows_today() -> None:
    assert parse_birth_year("만 82세", today=date(2030, 1, 2)) == 1948
    assert parse_birth_year("30년생", today=date(2030, 1, 2)) == 2030
