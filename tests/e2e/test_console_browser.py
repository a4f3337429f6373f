"""The console in real headless Chromium: sign in, queue, assign, reassign, phone intake, scoping."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from care import operators
from console.app import create_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import District, Dong, Operator
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, in_thread, serving, sign_in

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"


@dataclass
class Seeded:
    receipt_no: str
    order_id: int
    lead: str
    backup: str
    backup_id: int
    dong: str


async def _seed(url: str) -> Seeded:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            other = await factories.make_district(s, name="은평구")
            lead = await factories.make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
            backup = await factories.make_provider(s, mapo, name="한울사회적협동조합")
            resident = await factories.make_resident(s, mapo, name="박순자", phone="+821012345678")
            order = await factories.make_order(s, resident, service_code="meals", units=10, source="resident")
            pw = operators.hash_password(PASSWORD)
            s.add(Operator(username="mapo", display_name="김상담", password_hash=pw, district_id=mapo.district_id))
            s.add(
                Operator(username="eunpyeong", display_name="이은평", password_hash=pw, district_id=other.district_id)
            )
            assert order.id is not None
            return Seeded(order.receipt_no, order.id, lead.name, backup.name, backup.id, mapo.dongs[0].name)  # type: ignore[arg-type]
    finally:
        await database.dispose()


async def _add_order(url: str) -> str:
    database = Database(url)
    try:
        async with database.transaction() as s:
            district = (await s.execute(select(District).where(District.name == "마포구"))).scalar_one()
            dongs = list((await s.execute(select(Dong).where(Dong.district_id == district.id))).scalars())
            place = factories.Place(district=district, dongs=dongs)
            resident = await factories.make_resident(s, place, name="정옥희", phone="+821055556666")
            order = await factories.make_order(s, resident, service_code="escort", units=2)
            return order.receipt_no
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, Seeded, str]]:
    seeded = asyncio.run(_seed(db_url))
    app = create_app(database=Database(db_url), settings=Settings())
    app.state.queue_poll_seconds = 1
    with serving(app, "the console") as base:
        yield base, seeded, db_url


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, base, username, PASSWORD)


def test_desk_day_in_the_browser(server: tuple[str, Seeded, str]) -> None:
    base, seeded, url = server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _sign_in(page, base, "mapo")
            expect = playwright_sync.expect

            # The queue shows the new order; a later one appears without reloading the page.
            queue = page.locator("#queue")
            expect(queue).to_contain_text(seeded.receipt_no)
            expect(queue).to_contain_text("박순자")
            later = str(in_thread(_add_order(url)))
            expect(queue).to_contain_text(later, timeout=10_000)
            expect(page.locator("#fresh")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

            # Open it, screen it, assign it to the proposed provider.
            page.get_by_role("link", name=seeded.receipt_no).click()
            page.get_by_role("button", name="검토 시작").click()
            expect(page.locator("#status")).to_have_text("검토")
            select = page.locator("#assign-form select[name=provider_id]")
            expect(select.locator("option:checked")).to_contain_text(seeded.lead)
            expect(page.locator("#assign-form")).to_contain_text("추천")
            page.locator("#assign-form").get_by_role("button", name="배정").click()
            expect(page.locator("#status")).to_have_text("배정")

            # Reassign with a reason.
            page.locator("#assign-form select[name=provider_id]").select_option(str(seeded.backup_id))
            page.get_by_label("재배정 사유 (필수)").fill("배정기관 인력 부족으로 재배정")
            page.locator("#assign-form").get_by_role("button", name="재배정").click()
            history = page.locator("#history")
            expect(history).to_contain_text("배정")
            expect(history).to_contain_text("재배정")
            expect(history).to_contain_text("배정기관 인력 부족으로 재배정")
            expect(page.locator("body")).to_contain_text(seeded.backup)
            page.screenshot(path=str(ARTIFACTS / "order.png"), full_page=True)

            # A phone request.
            page.get_by_role("link", name="전화 접수").click()
            form = page.locator("#intake-form")
            form.locator("select[name=service]").select_option("housing")
            form.get_by_label("이름").fill("이복례")
            form.get_by_label("전화번호").fill("010-3333-4444")
            form.locator("select[name=dong_id]").select_option(label=seeded.dong)
            form.get_by_label("출생연도 또는 나이").fill("1941년생")
            form.get_by_label("희망일").fill("다음 주 화요일")
            form.locator("textarea[name=notes]").fill("화장실 손잡이가 흔들립니다")
            form.locator("input[name=consent]").check()
            page.screenshot(path=str(ARTIFACTS / "intake.png"), full_page=True)
            form.get_by_role("button", name="접수하기").click()
            expect(page.locator(".notice")).to_contain_text("전화 신청을 접수했습니다")
            expect(page.locator("body")).to_contain_text("이복례")
            expect(page.locator("#history")).to_contain_text("김상담")
            intake_url = page.url.split("?")[0]
            assert not errors, errors

            # An operator of another district cannot open it.
            other = browser.new_page(locale="ko-KR")
            _sign_in(other, base, "eunpyeong")
            expect(other.locator("#queue")).not_to_contain_text("이복례")
            response = other.goto(intake_url)
            assert response is not None and response.status == 404
            expect(other.locator("body")).not_to_contain_text("이복례")
        finally:
            browser.close()
