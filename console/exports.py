"""Every file the desk downloads (CSV or XLSX) is built here, and no cell in it can run as a formula.

A spreadsheet treats a cell that starts with `= + - @` (and, after a tab or a line break, whatever
follows) as a formula: a resident's "address" typed as `=HYPERLINK(...)` would run on the office PC
that opens the export (CSV/formula injection, OWASP). Such a text cell gets a leading `'`, in both
formats, so it is shown as the text it is. Numbers stay numbers. Full-width `＝ ＋ － ＠` are treated
the same, because Korean input methods type them and some spreadsheet programs read them as formulas.

Routes build their header and rows and call `response()`; nothing else in the console writes CSV or
XLSX (tests/console/test_exports.py checks the source for it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.worksheet.worksheet import Worksheet

from dolbom import clock

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
Cell = str | int | float | date | datetime | None

# What a spreadsheet may read as the start of a formula (ASCII and the full-width forms).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Amounts of money are numbers shown as "12,345원" (the cell keeps the integer).
WON_FORMAT = '#,##0"원"'


def inert(value: Cell) -> str | int | float:
    """Return the cell as it is written: text that could start a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):  # bool is an int: say it in words rather than 1/0
        return "예" if value else "아니요"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(TRIGGERS) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    out = io.StringIO()
    out.write("\ufeff")  # Excel on an office PC reads UTF-8 Korean only with the BOM
    writer = csv.writer(out)
    writer.writerow([inert(h) for h in header])
    for row in rows:
        writer.writerow([inert(c) for c in row])
    return out.getvalue().encode("utf-8")


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its name, header and rows; money: the 0-based columns holding 원."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    money: Collection[int] = ()


def _fill(sheet: Worksheet, data: Sheet) -> None:
    for r, row in enumerate([data.header, *data.rows], start=1):
        for c, value in enumerate(row, start=1):
            written = inert(value)
            cell = sheet.cell(row=r, column=c, value=written)
            if isinstance(written, str):
                # openpyxl itself turns a text starting with "=" into a formula: say it is text.
                cell.data_type = TYPE_STRING
            elif r > 1 and c - 1 in data.money:
                cell.number_format = WON_FORMAT
    sheet.freeze_panes = "A2"  # the header row stays in view


def _xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook(write_only=False)
    first = book.active
    assert first is not None
    book.remove(first)
    used: set[str] = set()
    for i, data in enumerate(sheets, start=1):
        # A sheet's name: at most 31 characters, none of []:*?/\, unique in the workbook.
        title = "".join(ch for ch in data.title if ch not in "[]:*?/\\")[:31] or f"Sheet{i}"
        if title in used:
            title = f"{title[:27]}({i})"
        used.add(title)
        _fill(book.create_sheet(title), data)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _download(body: bytes, *, name: str, fmt: str, media_type: str) -> Response:
    stamp = clock.local_now().strftime("%Y%m%d-%H%M")
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"'},
    )


def workbook(*, name: str, sheets: Sequence[Sheet]) -> Response:
    """Return an XLSX download of several sheets (one per table), named `<name>-<local time>.xlsx`."""
    return _download(_xlsx(sheets), name=name, fmt="xlsx", media_type=XLSX_TYPE)


def response(
    fmt: str,
    *,
    name: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    money: Collection[int] = (),
    title: str | None = None,
) -> Response:
    """Return the download (CSV unless fmt is "xlsx"), named `<name>-<local time>.<ext>`.

    money: the 0-based columns holding 원 (XLSX shows them as "12,345원"); title: the sheet's name.
    """
    if fmt == "xlsx":
        sheet = Sheet(title=title or "Sheet", header=header, rows=rows, money=money)
        return _download(_xlsx([sheet]), name=name, fmt="xlsx", media_type=XLSX_TYPE)
    return _download(_csv(header, rows), name=name, fmt="csv", media_type="text/csv; charset=utf-8")
