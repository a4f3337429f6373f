"""The 전화 안내 list in real headless Chromium: a phone-only resident's news, ticked off by the operator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from care import operators, orders
from console.app import create_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import District, Operator
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
            district = await s.get(District, mapo.district_id)
            district.phone = "02-3153-0000"  # type: ignore[union-attr]
            provider = await factories.make_provider(s, mapo, name="햇살협동조합", is_lead=True)
            resident = await factories.make_resident(s, mapo, name="김복례", phone="+821012345678")
            order = await factories.make_order(s, resident, requested_date=date(2026, 12, 3))
            await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
            await orders.assign(s, order_id=order.id, provider_id=provider.id, actor=DESK)  # type: ignore[arg-type]
            other = await factories.make_order(s, resident, service_code="escort", units=2)
            await orders.cancel(s, order_id=other.id, reason="같은 신청이 이미 있어요", actor=DESK)  # type: ignore[arg-type]
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


def test_the_operator_sees_whom_to_call_and_what_to_say_and_ticks_it_off(server: str) -> None:
    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            sign_in(page, base, "mapo", PASSWORD)
            page.click('nav a[href="/calls"]')
            page.wait_for_url(f"{base}/calls")
            rows = page.locator("#calls tr[data-call]")
            assert rows.count() == 2
            assert "010-1234-5678" in rows.nth(0).inner_text() and "12월 3일 (목)" in rows.nth(0).inner_text()
            assert "같은 신청이 이미 있어요" in rows.nth(1).inner_text() and "02-3153-0000" in rows.nth(1).inner_text()
            page.screenshot(path=str(ARTIFACTS / "phone_calls.png"), full_page=True)
            rows.nth(0).locator("form button").click()
            page.wait_for_url(f"{base}/calls?done=ticked")
            assert page.locator("#calls tr[data-call]").count() == 1
        finally:
            browser.close()
