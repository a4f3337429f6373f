"""`dolbom serve` as a process against a stand-in Bot API server on loopback: /start to receipt number.

The bot role long-polls getUpdates; the test plays the person by queueing updates (messages and
button presses) and reads what the bot sent. The receipt comes through the jobs role's outbox sender.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from alembic import command
from sqlalchemy import select, text

from storage import migrate
from storage.db import Database
from storage.models import Order, Outbox
from tests import factories
from tests.conftest import prepare
from tests.e2e.support import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
CHAT = 424242


@dataclass
class BotApi:
    """A small Bot API: getMe, getUpdates (long poll), sendMessage, edits, answers; everything recorded."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    url: str = ""
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(5000))
    _update_ids: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> BotApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        if request.can_read_body:
            form = await request.post()
            params: dict[str, Any] = {}
            for key, value in form.items():
                try:
                    params[key] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
                except ValueError:
                    params[key] = value
            return params
        return dict(request.query)

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        params = await self._params(request)
        self.calls.append(method)
        if method == "getme":
            result: Any = {"id": 123456, "is_bot": True, "first_name": "돌봄", "username": "dolbom_bot"}
        elif method == "getupdates":
            result = await self._get_updates(params)
        elif method == "sendmessage":
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            self.sent.append({"chat_id": str(params["chat_id"]), "text": params["text"], "reply_markup": markup})
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
            }
        else:  # deleteWebhook, setMyCommands, answerCallbackQuery, editMessageReplyMarkup, ...
            result = True
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + timeout
        while True:
            due = [u for u in self.updates if u["update_id"] >= offset]
            if due or time.monotonic() >= deadline:
                return due
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                pass

    # ------------------------------------------------------------ the person

    def _user(self) -> dict[str, Any]:
        return {"id": CHAT, "is_bot": False, "first_name": "영희", "language_code": "ko"}

    def _push(self, **body: Any) -> None:
        self.updates.append({"update_id": next(self._update_ids), **body})
        self._new.set()

    def say(self, text_: str) -> None:
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private"},
            "from": self._user(),
            "text": text_,
        }
        self._push(message=message)

    def press(self, label: str) -> None:
        data = self.buttons()[label]
        query = {
            "id": str(next(self._ids)),
            "from": self._user(),
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": CHAT, "type": "private"}},
        }
        self._push(callback_query=query)

    def buttons(self) -> dict[str, str]:
        for message in reversed(self.sent):
            markup = message["reply_markup"] or {}
            if "inline_keyboard" in markup:
                return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}
        return {}

    async def until(self, needle: str, *, limit: float = 30.0) -> str:
        """Wait until the bot sent a message containing needle; return it."""
        deadline = time.monotonic() + limit
        seen = 0
        while time.monotonic() < deadline:
            for message in self.sent[seen:]:
                if needle in message["text"]:
                    return str(message["text"])
            await asyncio.sleep(0.05)
        raise AssertionError(f"the bot never said {needle!r}; last: {[m['text'][:40] for m in self.sent[-3:]]}")


@pytest.fixture
async def serve_db(db_url: str):  # type: ignore[no-untyped-def]
    """An empty schema (create_all) stamped at head, with a district, so `serve` migrates nothing."""
    await prepare(db_url)
    await asyncio.to_thread(command.stamp, migrate.alembic_config(db_url), "head")
    database = Database(db_url)
    async with database.transaction() as session:
        await factories.make_district(session)
    try:
        yield database
    finally:
        await database.dispose()
        cleanup = Database(db_url)
        async with cleanup.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await cleanup.dispose()


async def test_dolbom_serve_takes_a_request_from_start_to_receipt(serve_db: Database, db_url: str, tmp_path: Path):
    api = await BotApi().start()
    log = tmp_path / "serve.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOLBOM_")},
        "DOLBOM_DATABASE_URL": db_url,
        "DOLBOM_TELEGRAM_TOKEN": TOKEN,
        "DOLBOM_TELEGRAM_API_URL": api.url,
        "DOLBOM_CONSOLE_PORT": str(free_port()),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; the test then only polls it
            [sys.executable, "-m", "dolbom", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        api.say("/start")
        await api.until("무엇을 도와 드릴까요?", limit=60)
        steps: list[tuple[str, str, str]] = [
            ("press", "서비스 신청", "어떤 도움이 필요하세요?"),
            ("press", "식사 배달", "누구를 위한 신청인가요?"),
            ("press", "본인", "성함이 어떻게 되세요?"),
            ("say", "김영희", "전화번호를 알려 주세요"),
            ("say", "010-1234-5678", "어느 동에 사세요?"),
            ("dong", "", "주소는 어떻게 되나요?"),
            ("say", "망원로 12", "몇 년생이세요?"),
            ("say", "1942", "등록된 장애가 있으세요?"),
            ("press", "아니요", "혼자 움직이거나 생활하기 어려우세요?"),
            ("press", "네", "지금 받고 계신 공공 돌봄 서비스가 없거나"),
            ("press", "네", "돌봐 드릴 가족이 없나요?"),
            ("press", "네", "소득 구분"),
            ("press", "기초생활수급", "몇 끼가 필요하세요?"),
            ("press", "10식", "언제부터 식사를 받고 싶으세요?"),
            ("say", "모레", "맞으세요?"),
            ("press", "네", "창구에 더 알려 주실 게 있으세요?"),
            ("press", "없어요", "개인정보 수집·이용 동의"),
            ("press", "동의합니다", "건강·장애 정보 수집 동의"),
            ("press", "동의합니다", "신청 내용을 확인해 주세요."),
            ("press", "신청하기", "접수번호는 다음 메시지로 알려 드려요."),
        ]
        for action, value, expect in steps:
            before = len(api.sent)
            if action == "press":
                api.press(value)
            elif action == "say":
                api.say(value)
            else:
                api.press(next(iter(api.buttons())))
            deadline = time.monotonic() + 30
            while not any(expect in m["text"] for m in api.sent[before:]):
                assert time.monotonic() < deadline, f"after {value!r} the bot never said {expect!r}"
                assert proc.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.05)
        # The receipt number arrives through the outbox, sent by the jobs role.
        receipt = await api.until("접수번호:", limit=30)
        async with serve_db.sessions() as s:
            order = (await s.execute(select(Order))).scalar_one()
            row = (await s.execute(select(Outbox).where(Outbox.kind == "receipt"))).scalar_one()
        assert order.receipt_no in receipt and order.service_code == "meals" and order.units == 10
        assert row.status == "sent"
        assert "answercallbackquery" in api.calls
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await api.stop()
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "김영희" not in log.read_text() and "010-1234-5678" not in log.read_text()  # no typed text in logs
