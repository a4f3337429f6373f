"""The console on a phone (390×844) and on a desk screen (1366×768), in real headless Chromium.

On the queue, an order page, the assign step and the check-in board: nothing scrolls sideways,
the header's menu folds on the phone and opens with a tap, the buttons a thumb needs are at least
44 px high, and a missed check-in's follow-up is recorded with two taps. Screenshots of every
page at both sizes go to tests/e2e/artifacts/ (phone-*.png, desk-*.png).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from care import checkins, operators
from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import CheckinSlot, Operator, Outbox
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import ARGS, CHROMIUM, in_thread, serving, sign_in
from tests.jobs.helpers import add_family, resident_with_chat

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "browser-test-pass"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 768}
THUMB = 44  # px: the smallest tap target


@dataclass
class Seeded:
    orders: dict[str, int]  # viewport name -> an order received today, not yet screened
    slots: dict[str, int]  # viewport name -> a missed check-in the family was told about


async def _seed(url: str) -> Seeded:
    await prepare(url)
    database = Database(url)
    try:
        async with database.transaction() as s:
            mapo = await factories.make_district(s, name="마포구")
            await factories.make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
            await factories.make_provider(s, mapo, name="한울사회적협동조합과 함께하는 아주 긴 이름의 지역자활센터")
            s.add(
                Operator(
                    username="mapo",
                    display_name="김상담",
                    password_hash=operators.hash_password(PASSWORD),
                    district_id=mapo.district_id,
                )
            )
            made: dict[str, int] = {}
            slots: dict[str, int] = {}
            for n, name in enumerate(("phone", "desk")):
                resident = await resident_with_chat(s, mapo, f"90{n}", name=f"박순자{n}", phone=f"+8210123456{n}0")
                await add_family(s, resident, f"91{n}", phone=f"010-9999-000{n}")
                order = await factories.make_order(
                    s,
                    resident,
                    service_code="meals",
                    units=10,
                    source="resident",
                    notes="혼자 사심. 오후에 연락.",
                )
                made[name] = order.id  # type: ignore[assignment]
                slot = CheckinSlot(
                    resident_id=resident.id,  # type: ignore[arg-type]
                    scheduled_at=clock.now(),
                    status="escalated",
                    sent_at=clock.now(),
                    missed_at=clock.now(),
                    escalated_at=clock.now(),
                    channel="telegram",
                    chat_id=f"90{n}",
                    alerted=[{"channel": "telegram", "chat_id": f"91{n}", "who": "family"}],
                )
                s.add(slot)
                await s.flush()
                slots[name] = slot.id  # type: ignore[assignment]
            for _ in range(12):  # a queue long enough to scroll
                extra = await factories.make_resident(s, mapo)
                await factories.make_order(s, extra, service_code="escort", units=2)
            return Seeded(made, slots)
    finally:
        await database.dispose()


async def _all_clear_sent_to(url: str, chat_id: str) -> bool:
    database = Database(url)
    try:
        async with database.sessions() as s:
            kinds = (await s.execute(select(Outbox.kind).where(Outbox.chat_id == chat_id))).scalars().all()
            return "checkin_all_clear" in kinds
    finally:
        await database.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, Seeded, str]]:
    seeded = asyncio.run(_seed(db_url))
    app = create_app(database=Database(db_url), settings=Settings())
    with serving(app, "the console") as base:
        yield base, seeded, db_url


def _fits(page: Any, what: str) -> None:
    """Nothing scrolls sideways."""
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{what}: the page is {width} px wide in a {inner} px window"


def _tall_enough(locator: Any, what: str) -> None:
    box = locator.bounding_box()
    assert box is not None, f"{what} is not shown"
    assert box["height"] >= THUMB, f"{what} is {box['height']:.0f} px high"


def _shoot(page: Any, name: str) -> None:
    """The whole page, and what the screen shows (the part to look at first)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-screen.png"))


def _menu(page: Any, phone: bool) -> None:
    """On the phone the menu is folded and one tap opens it; on the desk it is simply there."""
    summary = page.locator("#nav > summary")
    checkins_link = page.locator("#nav nav a[href='/checkins']")
    if phone:
        assert checkins_link.is_hidden(), "the menu should start folded on a phone"
        _tall_enough(summary, "the menu button")
        summary.click()
        playwright_sync.expect(checkins_link).to_be_visible()
        _tall_enough(checkins_link, "a menu entry")
        _fits(page, "the open menu")
        page.screenshot(path=str(ARTIFACTS / "phone-menu-screen.png"))
        summary.click()
        playwright_sync.expect(checkins_link).to_be_hidden()
    else:
        assert summary.is_hidden()
        playwright_sync.expect(checkins_link).to_be_visible()


@pytest.mark.parametrize("size", ["phone", "desk"])
def test_the_console_fits_a_phone_and_a_desk_screen(server: tuple[str, Seeded, str], size: str) -> None:
    base, seeded, url = server
    phone = size == "phone"
    ARTIFACTS.mkdir(exist_ok=True)
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=PHONE if phone else DESK, locale="ko-KR", has_touch=phone)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sign_in(page, base, "mapo", PASSWORD)

            # The queue.
            expect(page.locator("#queue")).to_contain_text("박순자0")
            _fits(page, "the queue")
            _menu(page, phone)
            _tall_enough(page.locator(".search button"), "the search button")
            if phone:  # a thumb opens an order by its receipt number (a mouse needs less)
                _tall_enough(page.locator("#queue a[href^='/orders/']").first, "an order's link")
            _shoot(page, f"{size}-queue")

            # An order page, then its assign step.
            page.goto(f"{base}/orders/{seeded.orders[size]}")
            expect(page.locator("#status")).to_have_text("접수")
            _fits(page, "an order page")
            _menu(page, phone)
            screen = page.get_by_role("button", name="검토 시작")
            _tall_enough(screen, "the screen button")
            _shoot(page, f"{size}-order")
            screen.click()
            expect(page.locator("#status")).to_have_text("검토")
            form = page.locator("#assign-form")
            expect(form).to_be_visible()
            _fits(page, "the assign step")
            _tall_enough(form.locator("select[name=provider_id]"), "the provider choice")
            assign = form.get_by_role("button", name="배정")
            _tall_enough(assign, "the assign button")
            form.scroll_into_view_if_needed()
            _shoot(page, f"{size}-assign")
            assign.click()
            expect(page.locator("#status")).to_have_text("배정")
            _fits(page, "the order once assigned")

            # The check-in board: the missed check-in first, its follow-up in two taps.
            page.goto(f"{base}/checkins")
            row = page.locator(f"#slot-{seeded.slots[size]}")
            expect(row).to_be_visible()
            _fits(page, "the check-in board")
            _menu(page, phone)
            if phone:
                _tall_enough(row.locator("a.tel").first, "the phone number to call")
            follow = row.locator(".follow > summary")
            _tall_enough(follow, "the follow-up button")
            follow.click()  # tap 1
            fine = row.locator("button[value=called_ok]")
            for value in checkins.FOLLOWUPS:
                _tall_enough(row.locator(f"button[value={value}]"), f"the {value} button")
            _fits(page, "the board with a follow-up open")
            _shoot(page, f"{size}-checkins-open")
            fine.click()  # tap 2
            row = page.locator(f"#slot-{seeded.slots[size]}")
            expect(row.locator(".done-by")).to_contain_text("김상담")
            expect(row.locator(".follow")).to_have_count(0)
            _fits(page, "the board after the follow-up")
            _shoot(page, f"{size}-checkins")
            assert in_thread(_all_clear_sent_to(url, f"91{0 if phone else 1}"))
            assert errors == []
        finally:
            browser.close()
