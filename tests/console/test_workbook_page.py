"""The admin's workbook page: download the template and the directory, upload with every problem listed."""

from __future__ import annotations

import html
import io
import re

import httpx
from openpyxl import load_workbook
from sqlalchemy import func, select

from care import operators
from storage.db import Database
from storage.models import AccessLog, Dong, Operator, Provider
from tests import workbooks
from tests.care.test_workbook import EXPECTED, _spoiled
from tests.console.conftest import PASSWORD, World, signed_in

PAGE = "/admin/district/workbook"


def _problems(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", page.split('class="problems"', 1)[-1])]


async def _upload(client: httpx.AsyncClient, token: str, data: bytes) -> httpx.Response:
    return await client.post(PAGE, data={"csrf_token": token}, files={"file": ("directory.xlsx", data)})


async def _count(db: Database, model: type) -> int:
    async with db.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_spoiled_upload_lists_every_korean_message_and_imports_nothing(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "admin")
    before = (await _count(db, Dong), await _count(db, Provider))
    r = await _upload(client, token, _spoiled())
    assert r.status_code == 400
    assert "파일을 가져오지 않았어요. 고칠 곳이 15곳 있어요. 아무것도 바뀌지 않았어요." in r.text
    assert _problems(r.text) == EXPECTED
    assert (await _count(db, Dong), await _count(db, Provider)) == before


async def test_a_good_upload_imports_then_the_same_file_changes_nothing(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "admin")
    r = await _upload(client, token, workbooks.new_district())
    assert r.status_code == 200, r.text
    assert "가져왔어요. 새로 " in r.text
    dongs = await _count(db, Dong)
    r = await _upload(client, token, workbooks.new_district())
    assert r.status_code == 200
    assert await _count(db, Dong) == dongs
    async with db.sessions() as s:
        logged = (
            await s.execute(select(func.count()).select_from(AccessLog).where(AccessLog.action == "district_import"))
        ).scalar_one()
    assert logged == 2


async def test_downloads_are_workbooks_of_the_import_format(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "admin")
    template = await client.get(PAGE + "/template")
    assert template.status_code == 200
    assert load_workbook(io.BytesIO(template.content)).sheetnames[0] == "자치구"
    exported = await client.get(PAGE + f"/export?district={world.mapo.district_id}")
    assert exported.status_code == 200
    book = load_workbook(io.BytesIO(exported.content))
    assert book["자치구"]["B3"].value == "마포구"
    assert {book["제공기관"].cell(row=r, column=1).value for r in (3, 4)} == {"마포돌봄협동조합", "한울사회적협동조합"}


async def test_an_admin_of_one_district_cannot_import_another_nor_create_one(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        s.add(
            Operator(
                username="mapo-admin",
                password_hash=operators.hash_password(PASSWORD),
                role="admin",
                district_id=world.mapo.district_id,
            )
        )
        other_code = world.other.district.code
    token = await signed_in(client, "mapo-admin")
    rows = workbooks.district_rows(code=other_code, name="은평구")
    r = await _upload(client, token, workbooks.build(rows))
    assert r.status_code == 404
    r = await _upload(client, token, workbooks.new_district())
    assert r.status_code == 400
    assert _problems(r.text) == [
        "자치구 시트 3행 '구 코드' 열: 구 코드 'seodaemun': 담당하시는 자치구가 아니에요."
        " 자치구 시트의 구 코드를 확인해 주세요."
    ]
    assert await _count(db, Dong) == len(world.mapo.dongs) + len(world.other.dongs)


async def test_an_upload_without_a_file_or_not_a_workbook_gets_a_kind_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    token = await signed_in(client, "admin")
    r = await client.post(PAGE, data={"csrf_token": token})
    assert r.status_code == 400 and "Traceback" not in r.text
    r = await _upload(client, token, b"not a workbook")
    assert r.status_code == 400
    assert _problems(r.text) == ["엑셀 파일(.xlsx)로 읽을 수 없어요. .xlsx로 저장해서 다시 올려 주세요."]
