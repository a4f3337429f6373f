"""The web chat in real headless Chromium: an operator completes a meal request and sees the receipt."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from care import operators
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import Operator, Order, Outbox
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, in_thread, serving, sign_in

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

PASSWORD = "webchat-test-pass"


async def _seed(url: str) -> None:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            place = await factories.make_district(s, name="마포구")
            s.add(
                Operator(
                    username="desk",
                    display_name="김상담",
                    password_hash=operators.hash_password(PASSWORD),
                    district_id=place.district_id,
                )
            )
    finally:
        await database.dispose()


async def _orders(url: str) -> list[Order]:
    database = Database(url)
    try:
        async with database.sessions() as s:
            return list((await s.execute(select(Order))).scalars())
    finally:
        await database.dispose()


async def _outbox_statuses(url: str) -> list[str]:
    database = Database(url)
    try:
        async with database.sessions() as s:
            return list((await s.execute(select(Outbox.status).order_by(Outbox.id))).scalars())
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    asyncio.run(_seed(db_url))
    app = build_web_app(database=Database(db_url), settings=Settings(database_url=db_url))
    with serving(app, "the web app") as base:
        yield base


def test_the_web_chat_completes_a_meal_request_in_chromium(server: str, db_url: str) -> None:
    base = server
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(locale="ko-KR")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "response",
                lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
            )
            sign_in(page, base, "desk", PASSWORD)
            page.goto(f"{base}/chat")
            log = page.locator("#log")

            def press(label: str) -> None:
                page.locator(".buttons button:not([disabled])", has_text=label).first.click()

            def say(text: str) -> None:
                page.get_by_placeholder("여기에 적어 주세요").fill(text)
                page.get_by_role("button", name="보내기").click()

            def expect(text: str) -> None:
                playwright_sync.expect(log.locator(".bot").last).to_contain_text(text, timeout=10_000)

            expect("무엇을 도와 드릴까요?")
            press("서비스 신청")
            expect("어떤 도움이 필요하세요?")
            press("식사 배달")
            expect("누구를 위한 신청인가요?")
            press("본인")
            expect("성함이 어떻게 되세요?")
            say("김영희")
            expect("전화번호를 알려 주세요")
            say("010-1234-5678")
            expect("어느 동에 사세요?")
            page.locator(".buttons button:not([disabled])").first.click()
            expect("주소는 어떻게 되나요?")
            say("망원로 12")
            expect("몇 년생이세요?")
            say("1942")
            for answer, question in (
                ("아니요", "혼자 움직이거나"),
                ("네", "공공 돌봄 서비스"),
                ("네", "돌봐 드릴 가족이"),
                ("아니요", "소득 구분"),
                ("기초생활수급", "몇 끼가"),
                ("10식", "언제부터 식사를"),
            ):
                press(answer)
                expect(question)
            say("모레")
            expect("맞으세요?")
            press("네")
            expect("창구에 더 알려 주실 게")
            press("없어요")
            expect("개인정보 수집·이용 동의")
            press("동의합니다")
            expect("건강·장애 정보 수집 동의")
            press("동의합니다")
            expect("신청 내용을 확인해 주세요.")
            press("신청하기")
            # The receipt comes from the outbox when the page polls.
            expect("접수번호:")
            orders = in_thread(_orders(db_url))
            assert len(orders) == 1
            playwright_sync.expect(log.locator(".bot").last).to_contain_text(orders[0].receipt_no)
            # The page's next poll says it showed the receipt: only then is it sent (issue 10), once.
            for _ in range(40):
                if in_thread(_outbox_statuses(db_url)) == ["sent"]:
                    break
                page.wait_for_timeout(250)
            assert in_thread(_outbox_statuses(db_url)) == ["sent"]
            assert log.locator(".bot").filter(has_text=orders[0].receipt_no).count() == 1
            font = page.evaluate("getComputedStyle(document.body).fontSize")
            assert float(font.rstrip("px")) >= 18
            assert not errors, errors
        finally:
            browser.close()
