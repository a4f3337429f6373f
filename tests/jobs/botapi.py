"""A stand-in Bot API server on 127.0.0.1 for the sender tests: scripted replies, every request counted."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    chat_id: str
    text: str
    reply_markup: dict[str, Any] | None
    at: float


@dataclass
class StandIn:
    """Replies 200 unless a script for the chat says otherwise; `kill_pid_at` SIGKILLs a process mid-call."""

    scripts: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    kill_pid_at: tuple[int, int] | None = None  # (pid, on the n-th request)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> StandIn:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send)
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

    def counts(self) -> Counter[str]:
        return Counter(r.chat_id for r in self.received)

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat_id = str(body["chat_id"])
        self.received.append(Received(chat_id, body["text"], body.get("reply_markup"), time.monotonic()))
        if self.kill_pid_at and len(self.received) == self.kill_pid_at[1]:
            # The message reached "Telegram"; the sender dies before it hears back.
            os.kill(self.kill_pid_at[0], signal.SIGKILL)
        script = self.scripts.get(chat_id)
        if script:
            status, payload = script.pop(0)
            return web.json_response(payload, status=status)
        return web.json_response({"ok": True, "result": {"message_id": len(self.received), "chat": {"id": chat_id}}})


def too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


BLOCKED = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
BAD_GATEWAY = (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
