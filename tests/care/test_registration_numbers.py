"""The one detector of resident registration numbers: how people spell them, and what it must leave alone."""

from __future__ import annotations

import pytest

from care import registration_numbers as rrn
from dolbom.errors import RegistrationNumberRefused

ZW = "\u200b"  # zero-width space


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Every spelling of one number we have seen typed or pasted (and a few an adversary would try).
SPELLINGS = [
    "800101-1234567",
    "8001011234567",
    "800101 1234567",
    "800101 - 1234567",
    "800101ㅡ1234567",  # Hangul ㅡ as a dash
    "800101 ㅡ 1234567",
    "800101.1234567",
    "800101/1234567",
    "800101_1234567",
    "800101~1234567",
    "800101*1234567",
    "800101:1234567",
    "800101\u20131234567",  # en dash
    "800101\u20141234567",  # em dash
    "800101\u22121234567",  # minus sign
    "800101\u30fc1234567",  # katakana long vowel mark
    fullwidth("800101-1234567"),
    fullwidth("8001011234567"),
    f"8001{ZW}01-1234{ZW}567",
    "800101\u200d-\u200c1234567",  # joiners
    "800101\u00ad1234567",  # soft hyphen
    "\ufeff800101-1234567",
    "8 0 0 1 0 1 - 1 2 3 4 5 6 7",
    "8 0 0 1 0 1 1 2 3 4 5 6 7",
    "800 101 1234 567",
    "80-01-01-1234567",
    "800101\n1234567",
    "800101\t1234567",
    "800101\u3000" + "1234567",  # ideographic space
    "800101\u00a01234567",  # no-break space
    "①②③",  # placeholder replaced below
    "٨٠٠١٠١-١٢٣٤٥٦٧",  # Arabic-Indic digits
    "제 주민번호는 800101-1234567 입니다",
    "주민번호:800101-1234567.",
    "주민번호800101-1234567이에요",
    "(800101-1234567)",
    "800101-1234567 010-1234-5678",
    "홍길동 800101 1234567 1",  # one digit more behind a space does not hide it
    "991231-2345678",
    "000229-3123456",  # 2000-02-29 exists
    "010101-4123456",
    "851120-5123456",  # foreign resident (5-8)
    "051231-8123456",
    "이름 박순자, 400101-2123456, 망원동",
]
SPELLINGS[SPELLINGS.index("①②③")] = "⑧⓪⓪①⓪①-①②③④⑤⑥⑦".replace("⓪", "0")

# What is not a registration number, even though it is digits.
NOT_NUMBERS = [
    "",
    "010-1234-5678",
    "01012345678",
    "010 1234 5678",
    "010.1234.5678",
    "+82 10-1234-5678",
    "+82-10-1234-5678",
    "+821012345678",
    "+82 (0)10 1234 5678",
    "02-123-4567",
    "(02) 123-4567",
    "031-123-4567",
    "070-1234-5678",
    "1588-1234",
    "010-1234-5678, 02-123-4567",
    "010-1234-5678 / 02-123-4567",
    "010-1234-5678 010-2345-6789",
    "2611-04821",
    "2611-04821, 2611-04822",
    "2611-04821 2611-04822 2611-04823",
    "접수번호 2611-04827 입니다",
    "1,234,567,890,123원",
    "8,001,011,234,567",  # an amount in thousands groups, decision 0008
    "합계 8,001,011,234,567원 / 1,000원",
    "2026-11-25",
    "2026.11.25",
    "2026-11-25 2026-12-01",
    "20261125",
    "2026년 11월 25일",
    "421315-2345678",  # month 13
    "420230-2345678",  # 30 February
    "421032-2345678",  # day 32
    "421015-9345678",  # 9 is no gender digit
    "421015-0345678",
    "421015-234567",  # one digit short
    "421015-23456789",  # one digit long
    "1421015-2345678",
    "42년생",
    "만 82세",
    "식사 30회, 60시간, 14일",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_of_a_registration_number_is_found(text: str) -> None:
    assert rrn.contains(text) is True
    with pytest.raises(RegistrationNumberRefused):
        rrn.refuse(text)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_phones_receipts_amounts_and_dates_are_not_registration_numbers(text: str) -> None:
    assert rrn.contains(text) is False
    rrn.refuse(text)  # must not raise


def test_the_table_has_at_least_forty_spellings_and_forty_non_numbers() -> None:
    assert len(set(SPELLINGS)) >= 40 and len(set(NOT_NUMBERS)) >= 40


@pytest.mark.parametrize("text", SPELLINGS)
def test_redact_leaves_no_digit_of_the_number_and_keeps_the_rest(text: str) -> None:
    cleaned = rrn.redact(f"앞 {text} 뒤")
    assert rrn.REDACTED in cleaned
    assert cleaned.startswith("앞 ") and cleaned.endswith(" 뒤")
    assert not rrn.contains(cleaned)
    assert "1234567" not in cleaned and "234567" not in cleaned.replace(" ", "")


def test_redact_keeps_the_phone_next_to_the_number() -> None:
    assert rrn.redact("800101-1234567 010-1234-5678") == "[주민번호 삭제] 010-1234-5678"


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_redact_changes_nothing_without_a_number(text: str) -> None:
    assert rrn.redact(text) == text


def test_numbers_inside_json_values_and_keys_are_found() -> None:
    assert rrn.contains_in({"a": {"name": ["x", "800101-1234567"]}})
    assert rrn.contains_in({"800101-1234567": 1})
    assert rrn.contains_in({"n": 8001011234567})  # digits a parser turned into a number
    assert not rrn.contains_in({"phone": "010-1234-5678", "units": 30, "amount": 1234567890123, "ok": True})
