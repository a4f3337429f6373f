"""민원·사고 and 만족도 in real headless Chromium: a complaint from a conversation, followed and closed; the menu
badge; the phone survey written down on the satisfaction page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from care import inbox, operators, orders
from console.app import create_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import DeskThread, Operator, Survey
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, serving, sign_in
from tests.factories import DESK

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"


async def _seed(url: str) -> None:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            provider = await factories.make_provider(s, mapo, name="햇살협동조합", is_lead=True)
            resident = await factories.make_resident(s, mapo, name="김복례", phone="+821012345678")
            order = await factories.make_order(s, resident)
            await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
            await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
            await orders.accept(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
            await orders.start(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
            await orders.complete(s, order_id=order.id, delivered_units=order.units, actor=DESK)  # type: ignore[arg-type]
            s.add(Survey(order_id=order.id))  # type: ignore[arg-type]  # nobody to ask by messenger
            thread = DeskThread(
                channel="telegram", user_key="555", resident_id=resident.id, district_id=mapo.district_id
            )
            s.add(thread)
            await s.flush()
            await inbox.record_incoming(s, thread=thread, text="배달하시는 분이 너무 퉁명스러워요")
            pw = operators.hash_password(PASSWORD)
            s.add(Operator(username="mapo", display_name="김상담", password_hash=pw, district_id=mapo.district_id))
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    asyncio.run(_seed(db_url))
    app = create_app(database=Database(db_url), settings=Settings())
    with serving(app, "the console") as base:
        yield base


def test_a_complaint_from_a_conversation_is_followed_and_closed_and_a_phone_survey_written_down(server: str) -> None:
    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            sign_in(page, base, "mapo", PASSWORD)
            page.click('nav a[href="/inbox"]')
            page.locator("#inbox a[href^='/inbox/']").first.click()
            page.click("#thread-complaint")
            page.wait_for_url(f"{base}/complaints/new?thread=*")
            assert "김복례" in page.inner_text("main")
            page.get_by_label("제공기관 불친절").check()
            page.get_by_label("무슨 일").fill("배달원이 퉁명스러웠다고 하심")
            page.get_by_label("지금까지 한 조치 (있으면)").fill("햇살협동조합 팀장에게 알림")
            page.get_by_label("조치 결정자").fill("김 팀장")
            page.screenshot(path=str(ARTIFACTS / "complaint_new.png"), full_page=True)
            page.get_by_role("button", name="민원 기록하기").click()
            page.wait_for_url(f"{base}/complaints/*?done=created")
            # The menu's badge counts the open complaint (the inbox poll brings it).
            page.wait_for_selector("#complaints-badge:not(.hidden)")
            assert page.inner_text("#complaints-badge") == "1"
            page.get_by_label("한 조치").fill("이용자께 다시 전화해 사과드림")
            page.get_by_role("button", name="조치 추가").click()
            page.wait_for_url(f"{base}/complaints/*?done=step")
            assert page.locator("#steps li").count() == 2
            page.get_by_label("어떻게 끝났나요?").fill("제공인력을 바꾸고 이용자께 알려 드림")
            page.get_by_role("button", name="이 결과로 종결").click()
            page.wait_for_url(f"{base}/complaints/*?done=close")
            assert page.get_by_test_id("complaint-status").inner_text() == "종결"
            page.screenshot(path=str(ARTIFACTS / "complaint_closed.png"), full_page=True)
            page.click('nav a[href="/complaints"]')
            page.wait_for_url(f"{base}/complaints")
            assert "처리 중 0건" in page.inner_text("main")
            page.screenshot(path=str(ARTIFACTS / "complaints.png"), full_page=True)

            page.click('nav a[href="/satisfaction"]')
            page.wait_for_url(f"{base}/satisfaction")
            row = page.locator("#to-call tr[data-survey]")
            assert row.count() == 1 and "010-1234-5678" in row.inner_text()
            page.screenshot(path=str(ARTIFACTS / "satisfaction_to_call.png"), full_page=True)
            row.get_by_label("4").check()
            row.get_by_placeholder("하신 말씀 (선택)").fill("늦었지만 맛있었어요")
            row.get_by_role("button", name="응답 저장").click()
            page.wait_for_url(f"{base}/satisfaction?done=phone#to-call")
            assert page.locator("#to-call tr[data-survey]").count() == 0
            assert "4.00" in page.get_by_test_id("by-provider").inner_text()
            page.screenshot(path=str(ARTIFACTS / "satisfaction.png"), full_page=True)
        finally:
            browser.close()
