"""A district set up from nothing: the acceptance walk of issue 11 §1, against `dolbom serve` as a process.

An empty database (no tables at all) → `dolbom serve` migrates it and prints the one-time link →
in Chromium the link creates the first admin (and then no longer works) → the admin signs in,
is led to the walk-through and uploads a workbook made with `dolbom district template` and
filled in with openpyxl → a resident asks for meals in the bot (the stand-in Bot API) for a 동
of that workbook and gets the receipt with the desk's phone from the workbook → the order is in
the console's queue. Before the upload the bot tells the same resident the desk is not set up.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from dolbom import clock
from storage.db import Database, is_sqlite
from storage.models import Dong, Operator, Order, Resident
from tests import workbooks
from tests.conftest import forget_pg_schema
from tests.e2e.botapi import Person, StandIn
from tests.e2e.process import RECEIPT_WORDS, ROOT, request_steps, serve_env, start_serve, stop
from tests.e2e.support import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e
playwright_async = pytest.importorskip("playwright.async_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LINK = re.compile(r"(http://\S+/setup/first-admin\?token=[\w-]+)")
CHAT = 515151
PASSWORD = "첫 관리자의 긴 비밀번호"
NOT_SET_UP = "창구가 아직 지역 설정을 마치지 않았어요"
DEAD_LINK = "이 설정 링크는 시간이 지났거나 이미 쓰였습니다"


@pytest.fixture
async def empty_db(db_url: str) -> AsyncIterator[str]:
    """A database with nothing in it, not even the schema: `serve` must migrate it from scratch."""
    if not is_sqlite(db_url):
        database = Database(db_url)
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await database.dispose()
    try:
        yield db_url
    finally:
        forget_pg_schema()  # the next test's PostgreSQL schema comes from create_all again


def _filled_template(path: Path, year: int) -> bytes:
    """Run `dolbom district template`, then fill the file it wrote with openpyxl (the example rows replaced)."""
    done = subprocess.run(
        [sys.executable, "-m", "dolbom", "district", "template", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    book = load_workbook(path)
    for sheet, rows in workbooks.district_rows(year=year).items():
        ws = book[sheet]
        ws.delete_rows(3, ws.max_row)  # row 1 the headers, row 2 what to write: both kept
        for row in rows:
            ws.append(row)
    book.save(path)
    return path.read_bytes()


def _output(log: Path) -> str:
    return log.read_text(errors="replace")


async def _printed_link(proc: subprocess.Popen[bytes], log: Path, *, within: float = 180) -> str:
    """Return the first-run link `serve` printed, as an operator copies it from the terminal."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = LINK.search(_output(log))
        if found:
            return found.group(1)
        assert proc.poll() is None, _output(log)[-3000:]
        await asyncio.sleep(0.2)
    raise AssertionError("no first-run link printed:\n" + _output(log)[-3000:])


async def _until_up(page, url: str, *, within: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Open url once the console answers (the web role starts after the bot role is ready)."""
    deadline = time.monotonic() + within
    while True:
        try:
            response = await page.goto(url)
            if response is not None and response.status < 500:
                return
        except playwright_async.Error:
            pass
        assert time.monotonic() < deadline, f"the console never answered at {url}"
        await asyncio.sleep(0.5)


async def _walk_to_receipt(person: Person) -> tuple[set[str], str]:
    """Walk the meal request, choosing 신촌동; return the 동 buttons offered and the receipt's text."""
    offered: set[str] = set()
    for action, value, expect in request_steps("김영희", "010-1234-5678"):
        if action == "press_first":  # the 동 question: the workbook's active 동, and 신촌동 chosen
            offered = set(person.buttons()) - {"취소", "처음으로"}
            action, value = "press", "신촌동"
        await person.step(action, value, expect)
    receipt = await person.wait_for(RECEIPT_WORDS, since=0, limit=60)
    assert receipt is not None
    return offered, receipt.text


async def test_a_district_set_up_from_nothing_takes_its_first_request(empty_db: str, tmp_path: Path) -> None:
    year = clock.local_now().year
    upload = tmp_path / "우리구.xlsx"
    _filled_template(upload, year)
    ARTIFACTS.mkdir(exist_ok=True)
    api = await StandIn().start()
    log = tmp_path / "serve.log"
    proc = start_serve(serve_env(empty_db, api.url), log)
    person = Person(api, CHAT, patience=60, max_tries=1)
    try:
        link = await _printed_link(proc, log)
        base = link.split("/setup/")[0]

        # Before any district exists, the bot says so (and the process keeps going).
        for action, value, expect in request_steps("김영희", "010-1234-5678")[:5]:
            await person.step(action, value, expect)
        await person.step("say", "010-1234-5678", NOT_SET_UP)

        async with playwright_async.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                expect = playwright_async.expect

                # The printed link → the first admin.
                await _until_up(page, link)
                await expect(page.locator("h1")).to_have_text("첫 관리자 만들기")
                await page.get_by_label("아이디").fill("desk-admin")
                await page.get_by_label("비밀번호", exact=True).fill(PASSWORD)
                await page.get_by_label("비밀번호 다시 입력").fill(PASSWORD)
                await page.get_by_role("button", name="관리자 만들기").click()
                await page.wait_for_url(f"{base}/login")

                # The link is spent: it now shows the kind 404 page, and makes nobody.
                other = await browser.new_page(locale="ko-KR")
                dead = await other.goto(link)
                assert dead is not None and dead.status == 404
                await expect(other.locator("body")).to_contain_text(DEAD_LINK)
                await other.close()

                # Sign in → the walk-through → the workbook page → upload.
                await page.get_by_label("아이디").fill("desk-admin")
                await page.get_by_label("비밀번호").fill(PASSWORD)
                await page.get_by_role("button", name="로그인").click()
                await page.wait_for_url(f"{base}/admin/setup**")
                await page.get_by_role("link", name="지역 설정 엑셀 파일 올리기").click()
                await page.wait_for_url(f"{base}/admin/district/workbook")
                await page.get_by_label("엑셀 파일 (.xlsx)").set_input_files(str(upload))
                await page.get_by_role("button", name="확인하고 가져오기").click()
                await expect(page.locator(".notice")).to_contain_text("가져왔어요. 새로 ")
                await expect(page.locator("body")).to_contain_text("서대문구")
                await page.screenshot(path=str(ARTIFACTS / "first_run_workbook.png"), full_page=True)

                # A resident asks in the bot, for a 동 of the workbook, and gets the receipt.
                offered, receipt = await _walk_to_receipt(person)
                assert offered == {"홍제1동", "홍은1동", "남가좌1동", "신촌동", "연희동"}  # 천연동: 사용 여부 아니오
                assert "02-330-1234" in receipt  # the desk's phone, from the workbook

                # The order is in the console's queue.
                await page.goto(f"{base}/")
                database = Database(empty_db)
                try:
                    async with database.sessions() as s:
                        order = (await s.execute(select(Order))).scalar_one()
                        resident = await s.get(Resident, order.resident_id)
                        assert resident is not None
                        dong = await s.get(Dong, resident.dong_id)
                        admins = (await s.execute(select(Operator.username, Operator.role))).all()
                finally:
                    await database.dispose()
                assert order.receipt_no in receipt and order.service_code == "meals"
                assert dong is not None and dong.name == "신촌동"
                assert [tuple(a) for a in admins] == [("desk-admin", "admin")]
                queue = page.locator("#queue")
                await expect(queue).to_contain_text(order.receipt_no)
                await expect(queue).to_contain_text("김영희")
                await page.screenshot(path=str(ARTIFACTS / "first_run_queue.png"), full_page=True)
                await page.get_by_role("link", name=order.receipt_no).click()
                await expect(page.locator("body")).to_contain_text("신촌동")
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        code = stop(proc)
        await api.stop()
    assert code == 0, _output(log)[-3000:]
    assert _output(log).count("/setup/first-admin?token=") == 1  # printed once, never again after use
