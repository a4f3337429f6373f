"""상담함 in real headless Chromium: new messages appear without reloading, the badge and the tab title count them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from care import auth, inbox, intake, operators
from console.app import create_app
from dolbom.i18n import gettext
from dolbom.settings import Settings
from storage.db import Database
from storage.models import District, Operator
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, in_thread, serving, sign_in

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"
CANNED = "확인해 보고 오늘 안에 전화 드릴게요."


async def _seed(url: str) -> None:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            resident = await factories.make_resident(s, mapo, name="박순자", phone="+821012345678")
            pw = operators.hash_password(PASSWORD)
            op = Operator(username="mapo", display_name="김상담", password_hash=pw, district_id=mapo.district_id)
            s.add(op)
            await s.flush()
            access = auth.Access(operator_id=op.id, username="mapo", ip=None, district_id=op.district_id, role="admin")
            await inbox.save_canned(s, access=access, district_id=mapo.district_id, code="later", text=CANNED)  # type: ignore[arg-type]
            thread = await intake.post_to_desk(
                s, channel="telegram", user_key="1001", text="도시락이 오늘 안 왔어요", district_id=mapo.district_id
            )
            thread.resident_id = resident.id
            s.add(thread)
    finally:
        await database.dispose()


async def _write(url: str, chat: str, text: str) -> None:
    database = Database(url)
    try:
        async with database.transaction() as s:
            district = (await s.execute(select(District).where(District.name == "마포구"))).scalar_one()
            await intake.post_to_desk(s, channel="telegram", user_key=chat, text=text, district_id=district.id)
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, str]]:
    asyncio.run(_seed(db_url))
    app = create_app(database=Database(db_url), settings=Settings())
    with serving(app, "the console") as base:
        yield base, db_url


def test_the_inbox_shows_new_messages_without_reloading(server: tuple[str, str]) -> None:
    base, url = server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sign_in(page, base, "mapo", PASSWORD)
            expect = playwright_sync.expect

            # Any page: the menu's inbox link carries the unread count, and so does the tab's title.
            badge = page.locator("#inbox-badge")
            expect(badge).to_have_text("1", timeout=10_000)
            expect(page).to_have_title(re.compile(r"^\(1\) "), timeout=10_000)

            page.locator('nav.menu a[href="/inbox"]').click()
            rows = page.locator("#inbox-rows")
            expect(rows).to_contain_text("도시락이 오늘 안 왔어요")
            # Someone else writes: the row appears, highlighted, without reloading; the count follows.
            page.evaluate("window.__same_page = true")
            in_thread(_write(url, "1002", "내일 병원에 같이 가 주실 수 있나요?"))
            expect(rows).to_contain_text("내일 병원에 같이 가 주실 수 있나요?", timeout=15_000)
            expect(page.locator("#inbox-fresh")).to_be_visible()
            expect(badge).to_have_text("2", timeout=10_000)
            assert page.evaluate("window.__same_page") is True
            page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)

            # Open the first conversation; "/" and the code offer the canned reply; Tab inserts it.
            page.get_by_role("link", name="박순자").click()
            box = page.locator("#reply-text")
            box.type("/la")
            expect(page.locator("#canned-list")).to_contain_text("/later")
            box.press("Tab")
            expect(box).to_have_value(CANNED)
            page.get_by_role("button", name=gettext("Send"), exact=True).click()
            expect(page.locator("#messages")).to_contain_text(CANNED)
            # The person answers: it appears in the open conversation without reloading.
            page.evaluate("window.__same_page = true")
            in_thread(_write(url, "1001", "네, 기다릴게요"))
            expect(page.locator("#messages")).to_contain_text("네, 기다릴게요", timeout=15_000)
            expect(page.locator("#messages li.fresh")).to_have_count(1)
            assert page.evaluate("window.__same_page") is True
            page.screenshot(path=str(ARTIFACTS / "inbox_thread.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
