"""The one detector of resident registration numbers (주민등록번호) in free text.

Used by the storage guard on every text and JSON column (storage/types.py), by the logging
filter (dolbom/logs.py) and by the edges that refuse early (the bot deletes the message).
Pure: no I/O and no import of storage, so storage may call it without a cycle.

How it reads a text (decision 0008):

1. Fold: NFKC (full-width digits, ①, superscripts), any other script's decimal digits to
   ASCII; drop invisible characters (zero-width spaces and joiners, soft hyphen, BOM, Hangul
   fillers).
2. Set aside what is certainly something else, so it is never joined with a neighbour:
   phone numbers written in their usual groups (010-1234-5678, 02-123-4567, +82 10-1234-5678,
   1588-1234), receipt numbers (2611-04821), calendar dates (2026-11-25) and amounts in
   thousands groups (1,234,567,890,123원).
3. Split into runs of digit groups: a group is consecutive digits; groups joined only by
   separators (spaces, any punctuation or symbol, Hangul ㅡ, dashes of every kind, line breaks)
   form one run; a letter ends the run.
4. A number is there when consecutive groups of a run hold exactly 13 digits that read as
   YYMMDD (a real calendar day in the century the 7th digit names), a 7th digit 1–8, and
   six more. Consecutive *groups*, never a cut inside a group: 12-digit and 14-digit numbers
   are not registration numbers, and typing one more digit behind a space does not hide one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from typing import Any, Final

from dolbom.errors import RegistrationNumberRefused

__all__ = ["REDACTED", "contains", "contains_in", "redact", "refuse", "refuse_in"]

REDACTED: Final = "[주민번호 삭제]"

RRN_DIGITS: Final = 13

# Invisible characters that people (or copy-paste) put between digits. Category Cf covers
# ZWSP/ZWNJ/ZWJ/WJ/BOM/soft hyphen; the Hangul fillers are letters that show nothing.
_INVISIBLE_LETTERS: Final = frozenset("\u115f\u1160\u3164\uffa0")
# Characters that read as a dash between digits although they are letters: Hangul ㅡ (and the
# jamo NFKC folds it to), katakana ー, CJK 一.
_DASH_LETTERS: Final = frozenset("\u3161\u1173\u30fc\u4e00\uff70")

_HARD: Final = "\x00"  # stands for a span set aside: ends a run like a letter does

# Step 2: spans that are certainly not registration numbers. Each must not touch further
# digits through a dash or a dot (that would make it part of a longer number).
_NOT_BEFORE = r"(?<![0-9])(?<![0-9][-.])"
_NOT_AFTER = r"(?![0-9])(?![-.][0-9])"
_SET_ASIDE: Final = re.compile(
    _NOT_BEFORE
    + r"(?:"
    # +82 forms: +82 10-1234-5678, +82-2-123-4567, +82 (0)10 ..., +821012345678
    + r"\+\s?82[-. ]?(?:\(0\))?[-. ]?(?:1[016789]|2|[3-6][1-5]|70)[-. ]?[0-9]{3,4}[-. ]?[0-9]{4}"
    # mobile, Seoul, area and 070 numbers with the same separator between their groups
    + r"|(?:01[016789]|02|0[3-6][1-5]|070)(?P<s>[-. ])[0-9]{3,4}(?P=s)[0-9]{4}"
    + r"|\((?:01[016789]|02|0[3-6][1-5]|070)\)\s?[0-9]{3,4}-[0-9]{4}"
    # an unbroken mobile number
    + r"|01[016789][0-9]{7,8}"
    # 1588-1234 and friends
    + r"|1[5-9][0-9]{2}-[0-9]{4}"
    # receipt numbers YYMM-NNNNN (decision 0001)
    + r"|[0-9]{2}(?:0[1-9]|1[0-2])-[0-9]{5}"
    # dates: 2026-11-25, 2026.11.25, 2026/11/25
    + r"|(?:19|20)[0-9]{2}(?P<d>[-./])[01]?[0-9](?P=d)[0-3]?[0-9]\.?"
    # amounts in thousands groups: 1,234,567,890,123
    + r"|(?<!,)[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?!,[0-9])"
    + r")"
    + _NOT_AFTER
)

_FAST_DIGITS = re.compile(r"\d")
_SMALLEST_13_DIGITS = 10 ** (RRN_DIGITS - 1)


def _fold_char(ch: str) -> str:
    """Return what one character counts as: digits, a separator ' ', a letter, or ''."""
    if ch in _INVISIBLE_LETTERS:
        return ""
    if ch in _DASH_LETTERS:
        return " "
    folded = unicodedata.normalize("NFKC", ch)
    out = []
    for c in folded:
        cat = unicodedata.category(c)
        if "0" <= c <= "9":
            out.append(c)
        elif cat == "Nd":
            out.append(str(unicodedata.decimal(c)))
        elif cat == "Cf" or c in _INVISIBLE_LETTERS:
            continue
        elif c in _DASH_LETTERS or cat[0] in "ZPSC":
            # A + stays visible to the phone patterns; all other separators read as a space.
            out.append(c if c in "+-.,/()" else " ")
        else:
            out.append(c)
    return "".join(out)


def _fold(text: str) -> tuple[str, list[int]]:
    """Return the folded text and, for each folded character, the index of its source character."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in _fold_char(ch):
            chars.append(c)
            where.append(i)
    return "".join(chars), where


def _plausible(digits: str) -> bool:
    """True when 13 digits read as YYMMDD + a 7th digit 1-8 + six digits."""
    seventh = digits[6]
    if seventh not in "12345678":
        return False
    century = 1900 if seventh in "1256" else 2000
    try:
        date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    return True


def _spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) in the source text of every registration number found."""
    folded, where = _fold(text)
    folded = _SET_ASIDE.sub(lambda m: _HARD * len(m.group(0)), folded)
    runs: list[list[tuple[int, int]]] = []  # groups as (start, end) in folded
    run: list[tuple[int, int]] = []
    i, n = 0, len(folded)
    while i < n:
        c = folded[i]
        if "0" <= c <= "9":
            j = i
            while j < n and "0" <= folded[j] <= "9":
                j += 1
            run.append((i, j))
            i = j
            continue
        if c == _HARD or not (c == " " or unicodedata.category(c)[0] in "ZPSC"):
            if run:
                runs.append(run)
                run = []
        i += 1
    if run:
        runs.append(run)
    for groups in runs:
        for first in range(len(groups)):
            total = 0
            for last in range(first, len(groups)):
                total += groups[last][1] - groups[last][0]
                if total > RRN_DIGITS:
                    break
                if total == RRN_DIGITS:
                    digits = "".join(folded[a:b] for a, b in groups[first : last + 1])
                    if _plausible(digits):
                        yield where[groups[first][0]], where[groups[last][1] - 1] + 1
                    break


def _might_hold(text: str) -> bool:
    # Fast path: fewer than 13 digits after NFKC cannot hold one (other scripts' digits are \d too).
    # ASCII is its own NFKC form, one character one digit at most: most stored values (statuses,
    # keys, Telegram's JSON) are short ASCII and skip the normalising. Other text can grow under
    # NFKC (⒛ is "20."), so it is normalised first whatever its length.
    if text.isascii():
        return len(text) >= RRN_DIGITS and len(_FAST_DIGITS.findall(text)) >= RRN_DIGITS
    return len(_FAST_DIGITS.findall(unicodedata.normalize("NFKC", text))) >= RRN_DIGITS


def contains(text: str) -> bool:
    """True when text holds a resident registration number, however it is spelled."""
    if not text or not _might_hold(text):
        return False
    return next(_spans(text), None) is not None


def contains_in(value: Any) -> bool:
    """True when any string or integer inside value (dict keys and values, lists, tuples) holds one."""
    if isinstance(value, str):
        return contains(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # A parser may have turned typed digits into a number: 8001011234567 (13 digits at least).
        return abs(value) >= _SMALLEST_13_DIGITS and contains(str(value))
    if isinstance(value, dict):
        return any(contains_in(k) or contains_in(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(contains_in(v) for v in value)
    return False


def redact(text: str) -> str:
    """Return text with every registration number replaced by '[주민번호 삭제]'."""
    if not text or not _might_hold(text):
        return text
    spans = list(_spans(text))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(text[at:start])
        out.append(REDACTED)
        at = end
    out.append(text[at:])
    return "".join(out)


def refuse(text: str | None) -> None:
    """Raise RegistrationNumberRefused when text holds one."""
    if text and contains(text):
        raise RegistrationNumberRefused()


def refuse_in(value: Any) -> None:
    """Raise RegistrationNumberRefused when any string inside value holds one."""
    if contains_in(value):
        raise RegistrationNumberRefused()
