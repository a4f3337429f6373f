"""The queue's keys in real headless Chromium: j/k move, Enter opens, a opens at the assign form, / searches."""

from __future__ import annotations

import pytest

from tests.e2e.support import ARGS, CHROMIUM
from tests.e2e.test_console_browser import ARTIFACTS, Seeded, _sign_in, server  # noqa: F401

pytestmark = pytest.mark.e2e
playwright_sync = pytest.importorskip("playwright.sync_api")


def test_keys_move_open_assign_and_search(server: tuple[str, Seeded, str]) -> None:  # noqa: F811
    base, seeded, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _sign_in(page, base, "mapo")
            expect = playwright_sync.expect
            expect(page.locator(".keys")).to_contain_text("j")
            page.keyboard.press("j")
            expect(page.locator("#queue tbody tr.cursor")).to_contain_text(seeded.receipt_no)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/orders/{seeded.order_id}")
            page.go_back()
            page.keyboard.press("j")
            page.keyboard.press("a")
            page.wait_for_url(f"{base}/orders/{seeded.order_id}#assign-form")
            page.go_back()
            page.keyboard.press("/")
            expect(page.locator("#q")).to_be_focused()
            page.screenshot(path=str(ARTIFACTS / "queue-keys.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
