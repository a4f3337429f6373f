"""`dolbom district template|import|export` through dolbom.cli.main, on the test's own database."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dolbom import cli
from dolbom.settings import get_settings
from storage.db import Database
from storage.models import Dong, Provider
from tests import workbooks


@pytest.fixture
def on_test_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(get_settings(), "database_url", db.url)

    async def _no_migration(_url: str) -> None:  # the schema is made by the db fixture
        return None

    monkeypatch.setattr("storage.migrate.upgrade_async", _no_migration)
    return db


async def _run(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def _count(db: Database, model: Any) -> int:
    async with db.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_template_import_twice_and_export_through_the_command(
    on_test_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "template.xlsx"
    assert await _run("district", "template", str(template)) == 0
    assert load_workbook(template).sheetnames == ["자치구", "권역", "행정동", "제공기관", "돌봄매니저", "서비스 단가"]

    mine = tmp_path / "seodaemun.xlsx"
    mine.write_bytes(workbooks.new_district())
    assert await _run("district", "import", str(mine)) == 0
    assert await _count(on_test_db, Dong) == 6
    capsys.readouterr()
    assert await _run("district", "import", str(mine)) == 0
    assert "0 created, 0 changed" in capsys.readouterr().out

    out = tmp_path / "out.xlsx"
    assert await _run("district", "export", str(out), "--district", "seodaemun") == 0
    book = load_workbook(io.BytesIO(out.read_bytes()))
    assert book["자치구"]["A3"].value == "seodaemun"
    assert book["제공기관"].max_row == 2 + 4


async def test_a_bad_workbook_is_refused_by_the_command_with_korean_lines_and_nothing_changes(
    on_test_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = workbooks.district_rows()
    rows["제공기관"][2][4] = "열"
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbooks.build(rows))
    capsys.readouterr()
    assert await _run("district", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "파일을 가져오지 않았어요. 고칠 곳이 1곳 있어요." in err
    assert "- 제공기관 시트 5행 '주간 정원' 열: 숫자로 적어 주세요 (지금 적힌 값: '열')." in err
    assert "Traceback" not in err
    assert await _count(on_test_db, Provider) == 0


async def test_export_without_a_code_when_there_are_two_districts_asks_for_one(
    on_test_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for code, name in (("seodaemun", "서대문구"), ("jongno", "종로구")):
        path = tmp_path / f"{code}.xlsx"
        path.write_bytes(workbooks.new_district(code=code, name=name))
        assert await _run("district", "import", str(path)) == 0
    capsys.readouterr()
    assert await _run("district", "export", str(tmp_path / "x.xlsx")) == 1
    assert "자치구를 코드로 정해 주세요 (--district 코드)." in capsys.readouterr().err
