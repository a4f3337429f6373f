"""Workbooks for tests: a valid district directory for a new district, and ways to spoil it.

`district_rows()` gives the rows of every sheet of a valid workbook (a district with two 권역,
six 행정동, four providers, three care managers and this year's catalog); `build()` writes any
rows as an .xlsx in the import format. The lead's end-to-end test uploads `new_district()`.
"""

from __future__ import annotations

import copy
import io
from typing import Any

from openpyxl import Workbook

from care import workbook as wb
from care.catalog import ANNUAL_SUPPORT_LIMIT, DEFAULTS

Rows = dict[str, list[list[Any]]]


def district_rows(*, code: str = "seodaemun", name: str = "서대문구", year: int = 2026) -> Rows:
    """Return the rows (below the header and hint rows) of a valid workbook for a new district."""
    return {
        wb.S_DISTRICT: [[code, name, "02-330-1234", "평일 9시~18시", "예"]],
        wb.S_REGIONS: [["북부권역", "예"], ["남부권역", "예"]],
        wb.S_DONGS: [
            ["홍제1동", "북부권역", "예"],
            ["홍은1동", "북부권역", "예"],
            ["남가좌1동", "북부권역", "예"],
            ["신촌동", "남부권역", "예"],
            ["연희동", "남부권역", "예"],
            ["천연동", "남부권역", "아니오"],
        ],
        wb.S_PROVIDERS: [
            [
                "서대문나눔밥상 협동조합",
                "협동조합",
                "02-391-1000",
                "식사지원",
                40,
                "",
                "북부권역, 남부권역",
                "북부권역",
                "예",
            ],
            [
                "연희재가돌봄 사회적협동조합",
                "사회적협동조합",
                "02-391-2000",
                "일시재가, 단기시설",
                25,
                "단기시설 5",
                "남부권역",
                "남부권역",
                "예",
            ],
            ["홍제집수리 자활기업", "자활기업", "", "주거편의, 이동지원", 15, "", "북부권역, 남부권역", "", "예"],
            ["서대문구보건소", "보건소", "02-330-1800", "건강지원", 50, "", "북부권역, 남부권역", "", "예"],
        ],
        wb.S_MANAGERS: [
            ["김서연", "홍제1동", "사회복지직", "02-330-8001", "예"],
            ["박지훈", "신촌동", "간호직", "010-2222-3333", "예"],
            ["이하늘", "연희동", "사회복지직", "", "예"],
        ],
        wb.S_PRICES: [
            [year, d.code.value, d.name, d.unit_label, d.unit_price, d.cap_units, ANNUAL_SUPPORT_LIMIT, "예"]
            for d in DEFAULTS
        ],
    }


def build(rows: Rows, *, drop_sheets: tuple[str, ...] = (), drop_columns: dict[str, str] | None = None) -> bytes:
    """Return an .xlsx of these rows in the import format, without some sheets or columns if asked."""
    book = Workbook()
    book.remove(book.active)
    for sheet, columns in wb.SHEETS.items():
        if sheet in drop_sheets:
            continue
        ws = book.create_sheet(sheet)
        keep = [i for i, c in enumerate(columns) if (drop_columns or {}).get(sheet) != c.header]
        ws.append([columns[i].header for i in keep])
        ws.append([columns[i].hint for i in keep])
        for row in rows.get(sheet, []):
            ws.append([row[i] if i < len(row) else None for i in keep])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def new_district(*, code: str = "seodaemun", name: str = "서대문구", year: int = 2026) -> bytes:
    """Return a valid workbook for a new district (what an admin uploads on a fresh install)."""
    return build(district_rows(code=code, name=name, year=year))


def spoiled(rows: Rows) -> Rows:
    """Return a deep copy of rows, to change without touching the original."""
    return copy.deepcopy(rows)
