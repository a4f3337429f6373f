"""모니터링 in real headless Chromium: plan a 수시 visit, record the checklist, add a follow-up, send the results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from care import operators
from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import ChannelBinding, MonitoringItem, Operator
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, serving, sign_in

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"


async def _seed(url: str) -> int:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            lead = await factories.make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
            await factories.make_provider(s, mapo, name="새봄돌봄", registration="pending")
            for n, text in enumerate(("사업 지침 준수", "본인부담금 수납 기록", "부정결제 여부"), start=1):
                s.add(MonitoringItem(district_id=mapo.district_id, position=n, text=text))
            s.add(ChannelBinding(channel="telegram", user_key="staff-1", role="provider_staff", provider_id=lead.id))
            pw = operators.hash_password(PASSWORD)
            s.add(Operator(username="mapo", display_name="김상담", password_hash=pw, district_id=mapo.district_id))
            assert lead.id is not None
            return lead.id
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, int]]:
    lead_id = asyncio.run(_seed(db_url))
    app = create_app(database=Database(db_url), settings=Settings())
    with serving(app, "the console") as base:
        yield base, lead_id


def test_an_adhoc_monitoring_visit_in_the_browser(server: tuple[str, int]) -> None:
    base, lead_id = server
    ARTIFACTS.mkdir(exist_ok=True)
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            sign_in(page, base, "mapo", PASSWORD)

            page.get_by_role("link", name="모니터링").first.click()
            plan = page.locator("#plan-form")
            plan.locator("select[name=provider_id]").select_option(str(lead_id))
            plan.get_by_role("radio", name="수시 모니터링").check()
            plan.locator("textarea[name=reason]").fill("부정결제 신고 접수 (11월 방문 기록 불일치)")
            plan.get_by_role("button", name="계획하기").click()
            expect(page.locator(".notice")).to_contain_text("모니터링을 계획했어요")

            results = page.locator("#results-form")
            for text, verdict in (
                ("사업 지침 준수", "적합"),
                ("본인부담금 수납 기록", "부적합"),
                ("부정결제 여부", "해당없음"),
            ):
                results.get_by_label(f"{text}: {verdict}").check()
            results.locator("tr", has_text="본인부담금 수납 기록").locator("input[name^=note_]").fill("3건 영수증 없음")
            results.get_by_label("요약").fill("12월에 다시 확인해요.")
            results.get_by_role("button", name="결과 저장").click()
            expect(page.locator(".notice")).to_contain_text("결과를 기록했어요")

            follow = page.locator("#followup-form")
            follow.locator("input[name=text]").fill("수납 영수증 보완 제출")
            follow.locator("input[name=due_on]").fill((clock.today() - timedelta(days=1)).isoformat())
            follow.get_by_role("button", name="후속 조치 추가").click()
            expect(page.locator("#followups")).to_contain_text("기한 지남")
            expect(page.locator("[data-testid=preview]")).to_contain_text("부적합 항목:")
            page.locator("#share").get_by_role("button", name="챗봇으로 직원 1명에게 보내기").click()
            expect(page.locator(".notice")).to_contain_text("챗봇으로 결과를 보냈어요")
            page.screenshot(path=str(ARTIFACTS / "monitoring_inspection.png"), full_page=True)

            page.goto(f"{base}/monitoring")
            expect(page.locator("#overdue")).to_contain_text("수납 영수증 보완 제출")
            page.screenshot(path=str(ARTIFACTS / "monitoring_list.png"), full_page=True)

            page.goto(f"{base}/providers")
            expect(page.locator("body")).to_contain_text("등록 대기")
            page.screenshot(path=str(ARTIFACTS / "providers_pending.png"), full_page=True)
        finally:
            browser.close()
