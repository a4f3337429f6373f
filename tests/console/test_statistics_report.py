"""The monthly report: every table and chart of a month for the district (print page and workbook).

The figures are the November of tests/care/test_statistics.py, counted by hand there.
"""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from console import charts
from storage.db import Database
from storage.models import AccessLog
from tests.console.conftest import World, signed_in
from tests.console.test_statistics_pages import _november

NOV = "month=2026-11"


def _cell(value: Any) -> Any:
    return None if value == "" else value


async def test_the_report_page_has_every_table_with_its_chart(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "mapo")
    api = (await client.get("/api/statistics?from=2026-11-01&to=2026-11-30")).json()
    page = await client.get(f"/statistics/report?{NOV}")
    assert page.status_code == 200
    html = page.text
    assert "월간 통계 보고서" in html and "마포구 · 2026-11" in html and "2026-11-01 ~ 2026-11-30" in html
    assert "만든 때 2026-12-02 10:00" in html  # 01:00 UTC is 10:00 in Seoul
    for key in api["tables"]:
        assert f'data-testid="stat-{key}"' in html, key
        assert f'data-testid="chart-{key}"' in html, key  # every table of the month has its chart
    assert html.count("<svg ") == len(api["tables"])
    assert "<text" not in html  # the charts' letters are paths
    for text in ("64,353원", "가나돌봄협동조합", "<!-- 가나돌봄협동조합 -->", "<!-- 식사지원 -->"):
        assert text in html, text
    # The chart ids do not clash between the charts of one page.
    ids = re.findall(r'\bid="(chart-[^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert 'href="/statistics/report/export?month=2026-11' in html
    async with db.sessions() as s:
        logged = (await s.execute(select(AccessLog.detail).where(AccessLog.action == "statistics_report"))).scalars()
        assert list(logged) == [f"2026-11-01 ~ 2026-11-30 district={world.mapo.district_id} region=None dong=None"]

    # The statistics page of a month links to that month's report.
    stats = await client.get("/statistics?period=month&month=2026-11")
    assert 'href="/statistics/report?month=2026-11' in stats.text
    assert stats.text.count("<svg ") == len(api["tables"])


async def test_no_month_given_is_the_last_whole_month(client: httpx.AsyncClient, db: Database, world: World) -> None:
    await _november(db, world)  # now: 2 December
    await signed_in(client, "mapo")
    page = await client.get("/statistics/report")
    assert page.status_code == 200 and "마포구 · 2026-11" in page.text
    assert (await client.get("/statistics/report?month=2026-13")).status_code == 400
    assert (await client.get("/statistics/report?month=11월")).status_code == 400


async def test_the_report_workbook_has_a_cover_and_every_table_as_on_screen(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "mapo")
    api = (await client.get("/api/statistics?from=2026-11-01&to=2026-11-30")).json()
    download = await client.get(f"/statistics/report/export?{NOV}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="statistics-report-2026-11-')
    book = load_workbook(io.BytesIO(download.content))
    assert book.sheetnames[0] == "표지" and len(book.sheetnames) == 1 + len(api["tables"])
    cover = [list(row) for row in book["표지"].iter_rows(values_only=True)]
    assert cover[0][0] == "월간 통계 보고서"
    assert {r[0]: r[1] for r in cover[1:]} == {
        "자치구": "마포구", "월": "2026-11", "기간": "2026-11-01 ~ 2026-11-30", "만든 때": "2026-12-02 10:00",
        "만든 사람": "mapo 담당",
    }  # fmt: skip
    for sheet, (key, rows) in zip(book.worksheets[1:], api["tables"].items(), strict=True):
        columns = api["columns"][key]
        values = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert values[0] == [c["title"] for c in columns], key
        assert values[1:] == [[row[c["key"]] for c in columns] for row in rows], key
    async with db.sessions() as s:
        actions = (await s.execute(select(AccessLog.action).where(AccessLog.username == "mapo"))).scalars().all()
    assert "statistics_report_export" in actions


async def test_another_districts_operator_gets_only_their_own_report(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _november(db, world)
    await signed_in(client, "eunpyeong")
    page = await client.get(f"/statistics/report?{NOV}&district={world.mapo.district_id}")
    assert page.status_code == 200
    assert "은평구 · 2026-11" in page.text and "가나돌봄협동조합" not in page.text and "마포구" not in page.text
    book = load_workbook(
        io.BytesIO((await client.get(f"/statistics/report/export?{NOV}&district={world.mapo.district_id}")).content)
    )
    cells = {c for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert "은평구" in cells and "마포구" not in cells and "가나돌봄협동조합" not in cells
    # A 동 of Mapo in the query changes nothing: the report is the whole (own) district.
    page = await client.get(f"/statistics/report?{NOV}&dong={world.mapo.dongs[0].id}")
    assert page.status_code == 200 and "은평구 · 2026-11" in page.text


async def test_the_all_district_admin_picks_the_district(client: httpx.AsyncClient, db: Database, world: World) -> None:
    await _november(db, world)
    await signed_in(client, "admin")
    page = await client.get(f"/statistics/report?{NOV}&district={world.mapo.district_id}")
    assert "마포구 · 2026-11" in page.text and "가나돌봄협동조합" in page.text
    assert "모든 구 · 2026-11" in (await client.get(f"/statistics/report?{NOV}")).text
    assert (await client.get(f"/statistics/report?{NOV}&district=999999")).status_code == 404


async def test_without_the_korean_font_the_report_still_shows_every_table(
    client: httpx.AsyncClient, db: Database, world: World, monkeypatch: Any
) -> None:
    await _november(db, world)
    monkeypatch.setattr(charts, "font_family", lambda: None)
    await signed_in(client, "mapo")
    for url in (f"/statistics/report?{NOV}", "/statistics?period=month&month=2026-11"):
        page = await client.get(url)
        assert page.status_code == 200, url
        assert "<svg " not in page.text and "한글 글꼴(Noto Sans CJK)" in page.text
        assert "64,353원" in page.text and 'data-testid="stat-providers"' in page.text


async def test_the_page_sends_charts_not_drawn_yet_later_and_only_to_who_may_see_them(
    client: httpx.AsyncClient, db: Database, world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr(charts, "_drawn", charts.OrderedDict())  # nothing drawn yet in this process
    await _november(db, world)
    await signed_in(client, "mapo")
    page = await client.get("/statistics?period=month&month=2026-11")
    assert page.status_code == 200
    later = re.findall(r'data-testid="chart-([a-z_]+)" data-later="(/statistics/charts/[^"]+)"', page.text)
    api = (await client.get("/api/statistics?from=2026-11-01&to=2026-11-30")).json()
    assert {key for key, _ in later} == set(api["tables"]) and "<svg " not in page.text
    assert '<script src="/static/charts.js" defer></script>' in page.text
    url = next(u for k, u in later if k == "services")
    chart = await client.get(url)
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg ") and "<text" not in chart.text and "<!-- 식사지원 -->" in chart.text
    # Another district's operator with the token: 404, nothing of 마포구's figures.
    await signed_in(client, "eunpyeong")
    refused = await client.get(url)
    assert refused.status_code == 404 and "식사지원" not in refused.text
    # Drawn once, the charts come with the page.
    await signed_in(client, "mapo")
    for _key, other in later:
        assert (await client.get(other)).status_code == 200
    again = await client.get("/statistics?period=month&month=2026-11")
    assert again.text.count("<svg ") == len(api["tables"]) and "data-later" not in again.text
