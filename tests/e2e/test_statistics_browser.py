"""통계 and the monthly report in real headless Chromium, with the November counted by hand.

Every table has its chart beside it, drawn on the server as SVG whose letters are paths (no
<text>, so no font is needed in the browser and no Korean letter can fall back to an empty box).
Screenshots go to tests/e2e/artifacts/ (statistics-*.png, report-*.png, report.pdf).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from care import operators
from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import Operator
from tests.care.test_statistics import november
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, serving, sign_in

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
A4_CONTENT = {"width": 680, "height": 1010}  # 180 × 267 mm (A4 less 15 mm margins) at 96 px an inch

# What the charts of the page hold, read in the browser: inline SVGs, their <text> elements,
# their glyph paths (and whether one is glyph 0, the font's empty box), the texts matplotlib noted.
CHARTS_JS = """() => [...document.querySelectorAll('figure.chart svg')].map(svg => {
  const walker = document.createTreeWalker(svg, NodeFilter.SHOW_COMMENT);
  const notes = [];
  while (walker.nextNode()) notes.push(walker.currentNode.nodeValue.trim());
  const glyphs = [...svg.querySelectorAll('defs path[id]')].map(p => p.id).filter(id => id.includes('NotoSansCJK'));
  const box = svg.getBoundingClientRect();
  return {key: svg.closest('figure').dataset.testid, texts: svg.querySelectorAll('text').length,
          glyphs: glyphs.length, empty: glyphs.filter(id => id.endsWith('-0')).length,
          notes, width: box.width, height: box.height};
})"""


async def _seed(url: str) -> None:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            found = await november(s)
            s.add(
                Operator(
                    username="mapo",
                    display_name="김통계",
                    password_hash=operators.hash_password(PASSWORD),
                    district_id=found.place.district_id,
                )
            )
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    asyncio.run(_seed(db_url))
    clock.set_now(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    app = create_app(database=Database(db_url), settings=Settings())
    try:
        with serving(app, "the console") as base:
            yield base
    finally:
        clock.set_now(None)


def _charts_are_paths(page: Any, what: str) -> list[dict[str, Any]]:
    """Every table has its chart; every chart's letters are Noto Sans CJK paths, none an empty box."""
    # Charts the server was still drawing come a moment after the page (console/static/charts.js).
    page.wait_for_function("() => !document.querySelector('figure.chart[data-later]')", timeout=60_000)
    sections = page.locator("section.stat").count()
    found: list[dict[str, Any]] = page.evaluate(CHARTS_JS)
    assert sections >= 9 and len(found) == sections, f"{what}: {len(found)} charts for {sections} tables"
    for chart in found:
        assert chart["texts"] == 0, f"{what} {chart['key']}: letters left to the browser's fonts"
        assert chart["glyphs"] > 0 and chart["empty"] == 0, f"{what} {chart['key']}: {chart}"
        assert chart["width"] > 250 and chart["height"] > 80, f"{what} {chart['key']} is not shown: {chart}"
    notes = {n for chart in found for n in chart["notes"]}
    for label in ("식사지원", "정보제공·상담(기초상담)", "가나돌봄협동조합", "신청", "완료", "접수", "공공 지원"):
        assert label in notes, f"{what}: {label} is not drawn"
    return found


def _looks_like_a_chart(page: Any, key: str) -> None:
    """The chart as the browser paints it: mostly white, with bars in the first series' blue."""
    shot = Image.open(io.BytesIO(page.get_by_test_id(f"chart-{key}").screenshot())).convert("RGB")
    pixels = list(shot.get_flattened_data())
    white = sum(1 for p in pixels if min(p) > 240) / len(pixels)
    blue = sum(1 for r, g, b in pixels if abs(r - 0x2F) < 30 and abs(g - 0x6F) < 30 and abs(b - 0xB0) < 30)
    assert white > 0.5 and blue > 100, f"chart {key}: {white:.0%} white, {blue} blue pixels"


def test_statistics_and_the_monthly_report_show_their_charts(server: str) -> None:
    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=DESK, locale="ko-KR")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            sign_in(page, base, "mapo", PASSWORD)

            # The statistics page of November: tables with their charts.
            page.goto(f"{base}/statistics?period=month&month=2026-11")
            expect(page.locator("h1")).to_contain_text("2026-11-01 ~ 2026-11-30")
            expect(page.locator("[data-testid=stat-services]")).to_contain_text("정보제공·상담(기초상담)")
            _charts_are_paths(page, "the statistics page")
            for key in ("services", "amounts", "funnel", "providers"):
                _looks_like_a_chart(page, key)
            page.screenshot(path=str(ARTIFACTS / "statistics.png"), full_page=True)
            page.screenshot(path=str(ARTIFACTS / "statistics-screen.png"))
            page.locator("[data-testid=stat-amounts]").screenshot(path=str(ARTIFACTS / "statistics-amounts.png"))
            page.locator("[data-testid=stat-providers]").screenshot(path=str(ARTIFACTS / "statistics-providers.png"))

            # The monthly report, from the page's link.
            page.get_by_test_id("statistics-report").click()
            page.wait_for_url(f"{base}/statistics/report?month=2026-11*")
            expect(page.get_by_test_id("report-what")).to_have_text("마포구 · 2026-11")
            expect(page.get_by_test_id("report")).to_contain_text("김통계")
            _charts_are_paths(page, "the report")
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            page.emulate_media(media="print")
            page.set_viewport_size(A4_CONTENT)  # what the print shows, at the width of A4 inside its margins
            expect(page.locator(".top")).to_be_hidden()
            expect(page.locator(".no-print").first).to_be_hidden()
            page.screenshot(path=str(ARTIFACTS / "report-print.png"), full_page=True)
            pdf = page.pdf(path=str(ARTIFACTS / "report.pdf"), format="A4", print_background=True)
            pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
            assert 2 <= pages <= 6, f"the report prints on {pages} A4 pages"
            page.emulate_media(media="screen")
            page.set_viewport_size(DESK)

            # On a phone the statistics page does not scroll sideways (wide tables scroll in their box).
            phone = browser.new_page(viewport=PHONE, locale="ko-KR", has_touch=True)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{base}/statistics?period=month&month=2026-11")
            _charts_are_paths(phone, "the phone page")
            width, inner = phone.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert width <= inner, f"the statistics page is {width} px wide on a {inner} px phone"
            phone.screenshot(path=str(ARTIFACTS / "statistics-phone.png"), full_page=True)

            assert errors == []
            assert all(u.startswith(base) for u in requests), "nothing is loaded from the internet"
        finally:
            browser.close()
