"""통계 through the console: the page, the XLSX workbook and GET /api/statistics give the same figures.

The figures are the November of tests/care/test_statistics.py, counted by hand there.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from dolbom import clock
from storage.db import Database
from storage.models import AccessLog, Operator
from tests.care.test_statistics import november
from tests.console.conftest import World, _password_hash, csrf, signed_in

NOV = "from=2026-11-01&to=2026-11-30"


async def _november(db: Database, world: World) -> None:
    async with db.transaction() as s:
        await november(s, world.mapo, world.other)
    clock.set_now(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))


def _cell(value: Any) -> Any:
    return None if value == "" else value


async def test_the_page_the_workbook_and_the_api_agree(client: httpx.AsyncClient, db: Database, world: World) -> None:
    await _november(db, world)
    await signed_in(client, "mapo")
    api = (await client.get(f"/api/statistics?{NOV}")).json()
    assert (api["from"], api["to"], api["district"]) == ("2026-11-01", "2026-11-30", world.mapo.district_id)
    services = {r["code"]: r for r in api["tables"]["services"]}
    assert (services["info:basic"]["requests"], services["info:simple"]["requests"]) == (2, 1)
    assert services["meals"]["requests_share"] == 37.5
    amounts = {r["code"]: r for r in api["tables"]["amounts"]}
    assert (amounts["meals"]["average"], amounts["total"]["average"]) == (50_400, 64_353)
    assert (amounts["total"]["public"], amounts["total"]["resident"]) == (100_800, 92_260)
    durations = {r["code"]: r for r in api["tables"]["durations"]}
    assert (durations["request_completion"]["median"], durations["request_completion"]["p90"]) == (13.0, 43.0)

    download = await client.get(f"/statistics/export?{NOV}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="statistics-2026-11-01-2026-11-30')
    book = load_workbook(io.BytesIO(download.content))
    assert len(book.sheetnames) == len(api["tables"])
    for sheet, (key, rows) in zip(book.worksheets, api["tables"].items(), strict=True):
        columns = api["columns"][key]
        values = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert values[0] == [c["title"] for c in columns], key
        assert values[1:] == [[row[c["key"]] for c in columns] for row in rows], key
    assert book["서비스별 금액"]["G4"].number_format == '#,##0"원"'  # the average per case, in 원

    page = await client.get(f"/statistics?{NOV}")
    assert page.status_code == 200
    shown = ("서비스별 신청과 주문", "정보제공·상담(기초상담)", "37.5%", "64,353원", "92,260원")
    shown += ("가나돌봄협동조합", "43.0")
    for text in shown:
        assert text in page.text, text
    async with db.sessions() as s:
        actions = (await s.execute(select(AccessLog.action).where(AccessLog.username == "mapo"))).scalars().all()
    assert {"statistics_view", "statistics_export"} <= set(actions)


async def test_another_districts_operator_gets_only_their_own(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "eunpyeong")
    api = (await client.get(f"/api/statistics?{NOV}&district={world.mapo.district_id}")).json()
    assert api["district"] == world.other.district_id
    assert [(r["code"], r["requests"]) for r in api["tables"]["services"]] == [("meals", 1), ("total", 1)]
    assert api["tables"]["amounts"] == [
        {"code": "total", "label": "합계", "cases": 0, "units": 0, "total": 0, "public": 0, "resident": 0,
         "average": 0}
    ]  # fmt: skip
    page = await client.get(f"/statistics?{NOV}&district={world.mapo.district_id}")
    assert page.status_code == 200 and "가나돌봄협동조합" not in page.text and "은평구" in page.text
    region = world.mapo.regions[0].id
    assert (await client.get(f"/api/statistics?{NOV}&region={region}")).status_code == 404
    assert (await client.get(f"/statistics?{NOV}&region={region}")).status_code == 404
    assert (await client.get(f"/statistics/export?{NOV}&dong={world.mapo.dongs[0].id}")).status_code == 404
    book = load_workbook(io.BytesIO((await client.get(f"/statistics/export?{NOV}")).content))
    cells = {c for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert "가나돌봄협동조합" not in cells


async def test_the_all_district_admin_picks_a_district_and_a_region(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "admin")
    everything = (await client.get(f"/api/statistics?{NOV}")).json()
    assert everything["district"] is None and everything["tables"]["services"][-1]["requests"] == 9
    region = world.mapo.regions[1].id
    api = (await client.get(f"/api/statistics?{NOV}&district={world.mapo.district_id}&region={region}")).json()
    assert [(r["code"], r["requests"]) for r in api["tables"]["services"]] == [
        ("meals", 2), ("info:basic", 1), ("total", 3)
    ]  # fmt: skip
    bad = await client.get("/api/statistics?from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 400 and "error" in bad.json()
    assert (await client.get("/statistics?month=2026-13")).status_code == 400


async def test_a_phone_request_from_a_health_centre_counts_as_that_source(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    form = {"csrf_token": token, "name": "정복녀", "phone": "010-5555-0101", "service": "escort", "units": "2",
            "consent": "yes", "dong_id": str(world.mapo.dongs[0].id), "income_tier": "basic", "urgency": "normal",
            "repeat_ok": "yes", "from_health_center": "yes"}  # fmt: skip
    answer = await client.post("/intake", data=form)
    assert answer.status_code == 303, [line for line in answer.text.splitlines() if "alert" in line or "error" in line]
    today = clock.local_now().date().isoformat()
    api = (await client.get(f"/api/statistics?from={today}&to={today}")).json()
    sources = {r["code"]: (r["requests"], r["label"]) for r in api["tables"]["sources"]}
    assert sources["health_center"] == (1, "보건소")


async def test_an_admin_sets_a_monthly_target_and_sees_the_progress(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "mapo")  # an operator: no form, and the route refuses
    page = await client.get(f"/statistics?{NOV}")
    assert 'data-testid="statistics-target-form"' not in page.text
    shown = ("사회적경제 제공기관 제공 비율", "66.7%", "반송과 재배정", "거절 사유별", "안부확인", "57.1%",
             "응답 없는 안부확인의 결과", "월 목표 달성", "70.0%", "월별 주문 (취소 제외)", "2025-12")  # fmt: skip
    for text in shown:
        assert text in page.text, text
    token = await csrf(client)
    form = {"csrf_token": token, "service": "meals", "measure": "orders", "monthly": "9"}
    assert (await client.post("/statistics/targets", data=form)).status_code == 403

    await signed_in(client, "admin")
    mapo = world.mapo.district_id
    page = await client.get(f"/statistics?{NOV}&district={mapo}")
    assert 'data-testid="statistics-target-form"' in page.text
    form = {"csrf_token": await csrf(client), "district": str(mapo), "service": "meals", "measure": "orders",
            "monthly": "1,000", "back_period": "month", "back_month": "2026-11"}  # fmt: skip
    answer = await client.post("/statistics/targets", data=form)
    assert answer.status_code == 303
    back = f"/statistics?period=month&month=2026-11&district={mapo}&done=target#stat-targets"
    assert answer.headers["location"] == back
    assert "목표를 저장했어요." in (await client.get(answer.headers["location"])).text
    api = (await client.get(f"/api/statistics?{NOV}&district={mapo}")).json()
    targets = {r["code"]: (r["target"], r["actual"], r["reached"]) for r in api["tables"]["targets"]}
    assert targets["meals:orders:2026-11"] == (1000, 2, 0.2)
    bad = await client.post("/statistics/targets", data={**form, "monthly": "많이"})
    assert bad.status_code == 400 and "0부터 1,000,000까지" in bad.text
    no_district = await client.post("/statistics/targets", data={**form, "district": ""})
    assert no_district.status_code == 400

    # Eunpyeong's own admin names Mapo: the target is set for Eunpyeong, Mapo's stays.
    async with db.transaction() as s:
        s.add(Operator(username="eunpyeong-admin", password_hash=_password_hash(), role="admin",
                       district_id=world.other.district_id, display_name="은평 관리자"))  # fmt: skip
    await signed_in(client, "eunpyeong-admin")
    answer = await client.post("/statistics/targets", data={**form, "csrf_token": await csrf(client), "monthly": "3"})
    assert answer.status_code == 303
    theirs = (await client.get(f"/api/statistics?{NOV}&district={mapo}")).json()
    assert theirs["district"] == world.other.district_id
    # Eunpyeong's November: one meals order, not cancelled → 1 of 3.
    assert [(r["code"], r["target"], r["actual"]) for r in theirs["tables"]["targets"]] == [
        ("meals:orders:2026-11", 3, 1)
    ]  # fmt: skip
    await signed_in(client, "admin")
    again = (await client.get(f"/api/statistics?{NOV}&district={mapo}")).json()
    assert {r["code"]: r["target"] for r in again["tables"]["targets"]}["meals:orders:2026-11"] == 1000
