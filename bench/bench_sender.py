"""Sender: the outbox sender against a stand-in Bot API that enforces Telegram's limits with 429s.

    .venv/bin/python bench/bench_sender.py [--size quick|full] [--db-url URL]   (or via bench/run.py)

The stand-in (tests/e2e/botapi.py) answers sendMessage with 429 (retry_after 1) when a chat got a
message less than a second before, or when more than the configured rate arrived in the last
second. The outbox holds 3,000 messages (3 a chat; quick: 300 at 30/s) and `jobs.sender.Sender`
sends them at the configured rate, 30/s and 1,000/s, on SQLite and PostgreSQL (a database of its
own next to ctx.db_url). Figures: the rate reached (first to last message), lost, duplicates,
answered 429. Targets: ≥ 0.95× the configured rate, 0 lost, 0 duplicates, 0 answered 429.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import asyncio
import os
import tempfile
import time
from collections import Counter, deque
from typing import Any

ORDER = 45
# (messages, rate) per size; three messages a chat.
RUNS = {"quick": [(300, 30.0), (3000, 1000.0)], "full": [(3000, 30.0), (3000, 1000.0)]}
PER_CHAT_S = 1.0
SLACK_S = 0.1  # arrival jitter the stand-in forgives (the sender paces when it sends, not when it lands)


def _limited_stand_in(rate: float) -> Any:
    from aiohttp import web

    from tests.e2e.botapi import StandIn

    class Limited(StandIn):
        """Telegram's limits: about one message a second per chat, and the bot's overall rate."""

        def __init__(self) -> None:
            super().__init__()
            self.last_at: dict[str, float] = {}
            self.window: deque[float] = deque()
            self.refused = 0
            self.refused_chat = 0  # of which: the chat got a message less than a second before

        def _send(self, params: dict[str, Any], token: str = "") -> web.Response:
            now = time.monotonic()
            chat = str(params["chat_id"])
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            too_soon = now - self.last_at.get(chat, -10.0) < PER_CHAT_S - SLACK_S
            too_many = len(self.window) >= rate * 1.05 + 1
            if too_soon or too_many:
                self.refused += 1
                self.refused_chat += int(too_soon)
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status=429,
                )
            self.last_at[chat] = now
            self.window.append(now)
            return super()._send(params, token or self.token)

    return Limited()


def _stand_in_process(rate: float, conn: Any) -> None:
    """Run the limited stand-in in a process of its own (Telegram's CPU is not ours); report at the end."""

    async def main() -> None:
        api = await _limited_stand_in(rate).start()
        conn.send(api.url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        conn.send(([(r.text, r.at) for r in api.received], (api.refused, api.refused_chat)))
        await api.stop()

    asyncio.run(main())


class StandInProcess:
    """The stand-in Bot API in a child process; `received` polls how many messages it got so far."""

    def __init__(self, rate: float) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_stand_in_process, args=(rate, child), daemon=True)
        self.proc.start()
        self.url = str(self.conn.recv())

    def finish(self) -> tuple[list[tuple[str, float]], tuple[int, int]]:
        self.conn.send("stop")
        received, refused = self.conn.recv()
        self.proc.join(10)
        return received, (int(refused[0]), int(refused[1]))


async def _sent_count(database: Any) -> int:
    from sqlalchemy import func, select

    from storage.models import Outbox

    async with database.sessions() as session:
        return int(
            (await session.execute(select(func.count()).where(Outbox.status == "sent"))).scalar_one()  # type: ignore[arg-type]
        )


async def send_all(url: str, *, messages: int, rate: float) -> dict[str, Any]:
    """Fill the outbox and send it; return the figures."""
    from sqlalchemy import func, select

    from dolbom.settings import Settings
    from jobs.sender import Sender
    from storage import outbox
    from storage.db import Database
    from storage.models import Outbox
    from tests import conftest
    from tests.e2e.botapi import TOKEN

    conftest.forget_pg_schema()
    await conftest.prepare(url)
    api = StandInProcess(rate)
    database = Database(url)
    try:
        chats = max(1, messages // 3)
        async with database.transaction() as session:
            await outbox.enqueue_many(
                session,
                [
                    {"district_id": None, "channel": "telegram", "chat_id": str(8_000_000 + n % chats), "text": f"m{n}"}
                    for n in range(messages)
                ],
            )
        settings = Settings(
            database_url=url, telegram_token=TOKEN, telegram_api_url=api.url, outbox_rate_per_second=rate
        )
        sender = Sender(database=database, settings=settings, poll_seconds=0.05)
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(sender.run(stop))
        limit = messages / rate * 3 + 30
        while await _sent_count(database) < messages and time.monotonic() - started < limit:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
        stop.set()
        await task
        async with database.sessions() as session:
            statuses = dict(
                (await session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()  # type: ignore[call-overload]
            )
    finally:
        await database.dispose()
        received, (refused, refused_chat) = api.finish()
    texts = Counter(text for text, _ in received)
    times = sorted(at for _, at in received)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "rate": (len(times) - 1) / span if span else 0.0,
        "lost": messages - len(texts),
        "duplicates": sum(n - 1 for n in texts.values()),
        "refused": refused,
        "refused_chat": refused_chat,
        "seconds": time.monotonic() - started,
        "statuses": statuses,
        "concurrency": settings.outbox_concurrency,
    }


def _fresh_sqlite_url() -> str:
    return f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='dolbom-bench-sender-')) / 'bench.db'}"


async def run(ctx: Any) -> list[Any]:
    """The sender figures for ctx.size on SQLite and PostgreSQL."""
    from bench.bench_intake import own_pg_database
    from bench.common import Result

    pg_url = await own_pg_database(ctx.db_url, "sender")
    results = []
    for engine in ("sqlite", "postgresql"):
        for messages, rate in RUNS[ctx.size]:
            # Every run starts from an empty outbox: a new SQLite file (prepare only creates the
            # tables, so a reused file would count the previous run's sent rows as this run's),
            # PostgreSQL's schema dropped and made again (send_all: forget_pg_schema, prepare).
            url = pg_url if engine == "postgresql" else _fresh_sqlite_url()
            got = await send_all(url, messages=messages, rate=rate)
            ratio = got["rate"] / rate
            results.append(
                Result(
                    f"sender {engine} {rate:g}/s",
                    f"{got['rate']:.1f}/s = {ratio:.2f}× the configured {rate:g}/s; {got['lost']} unsent at the end, "
                    f"{got['duplicates']} duplicates, {got['refused']} answered 429 "
                    f"({got['refused_chat']} of them per chat; {messages} messages)",
                    "≥ 0.95×, 0 lost, 0 duplicates, 0 answered 429",
                    ratio >= 0.95 and got["lost"] == 0 and got["duplicates"] == 0 and got["refused"] == 0,
                    note=f"outbox {got['statuses']}, concurrency {got['concurrency']}, {got['seconds']:.1f} s",
                )
            )
    return results


if __name__ == "__main__":
    import argparse

    from bench.common import DEFAULT_URL, Context

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("quick", "full"), default="quick")
    parser.add_argument("--db-url", default=os.environ.get("DOLBOM_BENCH_DATABASE_URL") or DEFAULT_URL)
    args = parser.parse_args()
    for line in asyncio.run(run(Context(size=args.size, db_url=args.db_url))):
        print(line.line())
