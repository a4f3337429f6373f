"""One stand-in Bot API server on 127.0.0.1 for every test and bench that talks to "Telegram".

It plays Telegram's side honestly enough to count what a crash costs:
- getUpdates long-polls, honours `offset` and `limit`, and keeps what Telegram keeps: an update is
  handed over again until a later call's offset confirms it; the stand-in remembers when each
  update was first handed over and which were confirmed;
- sendMessage (JSON from the outbox sender, or form data from aiogram) is recorded per chat with
  the time it arrived; a per-chat script can answer 429/403/5xx instead, and `kill_pid_at` SIGKILLs
  a process the moment the n-th message arrives (the message reached Telegram, the reply did not);
- every other method (getMe, answerCallbackQuery, edits, ...) is answered and counted;
- as Telegram does, a getUpdates that arrives while another is waiting ends the waiting one with
  409 Conflict; such overlaps are counted (`overlaps`), so a test sees two pollers of one bot;
- `tokens` may name more tokens of the same bot (other secret part): each received message
  records the token it came with, so a test with two processes sees which one answered.

`Person` plays one resident in one private chat: says things, presses buttons, waits for the answer
the way a person would (a bounded time) and says it again only when no answer came, counting that.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST"
BOT_ID = 123456
CONFLICT = {"ok": False, "error_code": 409, "description": "Conflict: terminated by other getUpdates request"}


@dataclass
class Received:
    """One sendMessage that reached the stand-in."""

    chat_id: str
    text: str
    reply_markup: dict[str, Any] | None
    at: float
    message_id: int = 0
    token: str = TOKEN


@dataclass
class Pushed:
    """One update a person sent, and what Telegram's side knows of it."""

    update_id: int
    chat_id: str
    body: dict[str, Any]
    pushed_at: float
    handed_at: float | None = None  # first time a getUpdates returned it
    handed_times: int = 0


@dataclass
class StandIn:
    """Replies 200 unless a script for the chat says otherwise; `kill_pid_at` SIGKILLs a process mid-call."""

    scripts: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    kill_pid_at: tuple[int, int] | None = None  # (pid, on the n-th sendMessage)
    token: str = TOKEN
    tokens: tuple[str, ...] = ()  # more tokens of the same bot (see the module's docstring)
    url: str = ""
    overlaps: int = 0  # getUpdates calls that arrived while another was still waiting
    _polls: list[tuple[asyncio.Event, web.Request]] = field(default_factory=list)  # the waiting getUpdates
    updates: list[Pushed] = field(default_factory=list)
    confirmed: int = 0  # every update id below this one was confirmed by a getUpdates offset
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _sent_signal: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(5000))
    # Telegram's update ids only grow, also across restarts of the stand-in on the same database.
    _update_ids: Any = field(default_factory=lambda: itertools.count(int(time.time() * 10) % 2**31))
    _runner: web.AppRunner | None = None

    async def start(self) -> StandIn:
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

    # ------------------------------------------------------------ what was sent

    def counts(self) -> Counter[str]:
        """How many messages each chat received."""
        return Counter(r.chat_id for r in self.received)

    def sent_to(self, chat_id: str, *, since: float = 0.0) -> list[Received]:
        return [r for r in self.received if r.chat_id == chat_id and r.at >= since]

    async def next_message(self, *, within: float) -> bool:
        """Wait until any sendMessage arrives (True) or `within` seconds pass (False)."""
        self._sent_signal.clear()
        try:
            await asyncio.wait_for(self._sent_signal.wait(), within)
            return True
        except TimeoutError:
            return False

    async def until_received(self, count: int, *, within: float) -> bool:
        """Wait until `count` messages in all have arrived; False when `within` seconds passed first."""
        deadline = time.monotonic() + within
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self.next_message(within=min(left, 0.5))
        return True

    # ------------------------------------------------------------ updates

    def push(self, chat_id: int | str, **body: Any) -> Pushed:
        """Queue an update as Telegram would when a person acts; return it."""
        pushed = Pushed(next(self._update_ids), str(chat_id), body, time.monotonic())
        self.updates.append(pushed)
        self._new.set()
        return pushed

    def is_confirmed(self, pushed: Pushed) -> bool:
        return pushed.update_id < self.confirmed

    def next_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------ the server

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
        token = request.match_info["token"]
        if token != self.token and token not in self.tokens:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        params = await self._params(request)
        self.calls.append(method)
        if method == "sendmessage":
            return self._send(params, token)
        result: Any = True  # deleteWebhook, setMyCommands, answerCallbackQuery, editMessageReplyMarkup, ...
        if method == "getme":
            result = {"id": BOT_ID, "is_bot": True, "first_name": "돌봄", "username": "dolbom_bot"}
        elif method == "getupdates":
            result = await self._get_updates(params, request)
            if result is None:
                return web.json_response(CONFLICT, status=409)
        return web.json_response({"ok": True, "result": result})

    def _send(self, params: dict[str, Any], token: str = TOKEN) -> web.Response:
        chat_id = str(params["chat_id"])
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        message_id = next(self._ids)
        self.received.append(Received(chat_id, str(params["text"]), markup, time.monotonic(), message_id, token))
        self._sent_signal.set()
        if self.kill_pid_at and len(self.received) == self.kill_pid_at[1]:
            # The message reached "Telegram"; the sender dies before it hears back.
            os.kill(self.kill_pid_at[0], signal.SIGKILL)
        script = self.scripts.get(chat_id)
        if script:
            status, payload = script.pop(0)
            return web.json_response(payload, status=status)
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id, "type": "private"},
            "text": params["text"],
        }
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any], request: web.Request) -> list[dict[str, Any]] | None:
        """The updates to hand over; None when a later getUpdates ended this one (409, as Telegram)."""
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        # Telegram forgets every update below the offset: that is the confirmation.
        self.confirmed = max(self.confirmed, offset)
        timeout = min(float(params.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + timeout
        # A waiting call whose caller is gone (a killed or stopped process) is no conflict.
        if any(_listening(r) for _, r in self._polls):
            self.overlaps += 1
        for waiting, _ in self._polls:
            waiting.set()
        ended = asyncio.Event()
        self._polls.append((ended, request))
        try:
            return await self._hand_over(limit, deadline, ended)
        finally:
            self._polls.remove((ended, request))

    async def _hand_over(self, limit: int, deadline: float, ended: asyncio.Event) -> list[dict[str, Any]] | None:
        while True:
            if ended.is_set():
                return None
            due = [u for u in self.updates if u.update_id >= self.confirmed][:limit]
            if due or time.monotonic() >= deadline:
                now = time.monotonic()
                for u in due:
                    u.handed_times += 1
                    if u.handed_at is None:
                        u.handed_at = now
                return [{"update_id": u.update_id, **u.body} for u in due]
            self._new.clear()
            news = asyncio.ensure_future(self._new.wait())
            end = asyncio.ensure_future(ended.wait())
            await asyncio.wait(
                {news, end}, timeout=max(0.01, deadline - time.monotonic()), return_when="FIRST_COMPLETED"
            )
            news.cancel()
            end.cancel()


def _listening(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


BLOCKED = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
BAD_GATEWAY = (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})


# ---------------------------------------------------------------- the person


class NoAnswer(AssertionError):
    """A person waited in vain, again and again."""


@dataclass
class Person:
    """One resident in a private chat with the bot.

    `step` sends one thing and waits up to `patience` seconds for an answer that contains the
    expected words; only when none came does the person send the same thing again (a resend,
    counted), as a person who sees nothing would.
    """

    api: StandIn
    chat_id: int
    first_name: str = "영희"
    patience: float = 30.0
    max_tries: int = 6
    resends: int = 0
    pushed: list[Pushed] = field(default_factory=list)

    def _user(self) -> dict[str, Any]:
        return {"id": self.chat_id, "is_bot": False, "first_name": self.first_name, "language_code": "ko"}

    def _chat(self) -> dict[str, Any]:
        return {"id": self.chat_id, "type": "private"}

    def say(self, text: str) -> Pushed:
        message = {
            "message_id": self.api.next_id(),
            "date": int(time.time()),
            "chat": self._chat(),
            "from": self._user(),
            "text": text,
        }
        return self._push(message=message)

    def share_contact(self, phone: str) -> Pushed:
        message = {
            "message_id": self.api.next_id(),
            "date": int(time.time()),
            "chat": self._chat(),
            "from": self._user(),
            "contact": {"phone_number": phone, "first_name": self.first_name, "user_id": self.chat_id},
        }
        return self._push(message=message)

    def press(self, label: str) -> Pushed:
        buttons = self.buttons()
        if label not in buttons:
            raise AssertionError(f"chat {self.chat_id}: no button {label!r} among {list(buttons)}")
        return self._press_data(buttons[label])

    def press_first(self) -> Pushed:
        return self._press_data(next(iter(self.buttons().values())))

    def _press_data(self, data: str) -> Pushed:
        query = {
            "id": str(self.api.next_id()),
            "from": self._user(),
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": 1, "date": int(time.time()), "chat": self._chat()},
        }
        return self._push(callback_query=query)

    def _push(self, **body: Any) -> Pushed:
        pushed = self.api.push(self.chat_id, **body)
        self.pushed.append(pushed)
        return pushed

    def messages(self, *, since: float = 0.0) -> list[Received]:
        return self.api.sent_to(str(self.chat_id), since=since)

    def buttons(self) -> dict[str, str]:
        """The inline buttons of the newest message that has any: label → callback data."""
        for message in reversed(self.messages()):
            markup = message.reply_markup or {}
            if "inline_keyboard" in markup:
                return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}
        return {}

    async def wait_for(self, needle: str, *, since: float, limit: float) -> Received | None:
        """The first message since `since` containing needle, waiting up to limit seconds."""
        deadline = time.monotonic() + limit
        while True:
            for message in self.messages(since=since):
                if needle in message.text:
                    return message
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def step(self, action: str, value: str, expect: str) -> Received:
        """Do one thing ("say", "press", "press_first", "contact") and wait for the expected answer."""
        for attempt in range(self.max_tries):
            if attempt:
                self.resends += 1
            started = time.monotonic()
            if action == "say":
                self.say(value)
            elif action == "press":
                self.press(value)
            elif action == "contact":
                self.share_contact(value)
            else:
                self.press_first()
            got = await self.wait_for(expect, since=started, limit=self.patience)
            if got is not None:
                return got
        last = [m.text[:40] for m in self.messages()[-3:]]
        raise NoAnswer(f"chat {self.chat_id}: after {value!r} the bot never said {expect!r}; last: {last}")
