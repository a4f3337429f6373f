"""Intake: many people doing complete requests at once through the real Dispatcher, inbox and store.

    .venv/bin/python bench/bench_intake.py [--size quick|full] [--db-url URL]   (or via bench/run.py)

Production's path, in one process: a receiver stores what people send in the `inbound` table in
batches (as the getUpdates loop does) and the inbox worker (`bot.telegram.Inbox.run`, its default
handler loops) claims each row, feeds it to the real aiogram Dispatcher and the conversation core,
stores the answer and sends it. The Bot API is an in-memory session (tests/bot/harness.py), so the
figures are ours, not the network's. Each simulated person walks the whole meal request
(tests/bot/flow_steps.py: /start … 신청하기, 24 updates) and waits for each answer before the next.

Against a baseline in the same run: a bare Dispatcher whose one handler does one INSERT per update
(its own transaction), fed the same number of updates parsed from JSON, 8 at a time.

Figures, on SQLite (a fresh file) and PostgreSQL (a database of its own next to ctx.db_url, emptied):
- failed or lost updates (target 0): a row that failed at least once, went dead, or a person who
  got no answer within 120 s;
- throughput with everyone at once, and its ratio to the baseline (target ≥ 0.5×);
- PostgreSQL only: p99 of update → its answer sent, with people writing at a steady 200 updates/s
  (target < 200 ms).
Also printed: SQL statements per update (receive, claim, handle, answer) and the pool settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import asyncio
import itertools
import os
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

ORDER = 40
PEOPLE = {"quick": 200, "full": 1000}
STEADY = {"quick": (200, 1.0), "full": (400, 2.0)}  # (people, seconds between one person's updates): 200/s
STEADY_RATE = 200
ANSWER_WAIT_S = 120.0
BASELINE_AT_ONCE = 8
BOT_ID = 123456
TOKEN = "123456:TEST"


# ---------------------------------------------------------------- the bot's side


def _make_session(sent: dict[str, list[Any]]) -> Any:
    from aiogram.methods import SendMessage

    from tests.bot.harness import FakeSession

    class Recording(FakeSession):
        """The harness's in-memory Bot API; keeps each chat's messages, not every call."""

        async def make_request(self, bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
            result = await super().make_request(bot, method, timeout)
            self.calls.clear()
            if isinstance(method, SendMessage):
                sent[str(method.chat_id)].append(method)
            return result

    return Recording()


def _make_inbox(database: Any, session: Any, answered: dict[int, asyncio.Future[float]]) -> Any:
    from aiogram import Bot

    from bot import telegram

    class Timed(telegram.Inbox):
        """The production inbox; tells the waiting person when their update's answer went out."""

        async def _perform(self, row: Any) -> tuple[str, int, str | None]:
            outcome = await super()._perform(row)
            waiter = answered.get(int(row.update_id))
            if outcome[0] == "answered" and waiter is not None and not waiter.done():
                waiter.set_result(time.monotonic())
            return outcome

    bot = Bot(token=TOKEN, session=session)
    return Timed(database=database, bot=bot, dp=telegram.make_dispatcher(database))


class Receiver:
    """Stores what people send in batches, as the getUpdates loop does (up to 100 a batch)."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            getter = asyncio.ensure_future(self.queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                return
            batch = [getter.result()]
            while not self.queue.empty() and len(batch) < 100:
                batch.append(self.queue.get_nowait())
            while True:
                try:
                    await self.inbox.receive(batch)
                    break
                except Exception:  # as the poller: not confirmed, so Telegram hands it over again
                    self.failures += 1
                    await asyncio.sleep(0.5)


_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


@dataclass
class Person:
    """One resident in a private chat: sends, waits for the answer, reads its buttons."""

    user_id: int
    receiver: Receiver
    sent: list[Any]
    answered: dict[int, asyncio.Future[float]]
    latencies: list[float]
    phone: str
    pace: float = 0.0  # seconds between this person's updates (0: as soon as answered)
    next_at: float = 0.0
    unanswered: int = 0
    _message_ids: Any = field(default_factory=lambda: itertools.count(1))

    def _user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": "영희", "language_code": "ko"}

    def _message(self, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": self.user_id, "type": "private"},
            "from": self._user(),
            **fields,
        }

    async def _send(self, body: dict[str, Any]) -> None:
        if self.pace:
            wait = self.next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.next_at = max(self.next_at, time.monotonic()) + self.pace
        update_id = next(_ids)
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.answered[update_id] = waiter
        started = time.monotonic()
        await self.receiver.queue.put({"update_id": update_id, **body})
        try:
            done = await asyncio.wait_for(asyncio.shield(waiter), ANSWER_WAIT_S)
        except TimeoutError:
            self.unanswered += 1
            raise
        finally:
            self.answered.pop(update_id, None)
        self.latencies.append(done - started)

    async def say(self, text_: str) -> None:
        await self._send({"message": self._message(text=text_)})

    async def share_contact(self, _phone: str) -> None:
        contact = {"phone_number": self.phone, "first_name": "영희", "user_id": self.user_id}
        await self._send({"message": self._message(contact=contact)})

    def buttons(self) -> dict[str, str]:
        from aiogram.types import InlineKeyboardMarkup

        for message in reversed(self.sent):
            if isinstance(message.reply_markup, InlineKeyboardMarkup):
                return {b.text: b.callback_data or "" for row in message.reply_markup.inline_keyboard for b in row}
        return {}

    async def press(self, label: str) -> None:
        buttons = self.buttons()
        if label not in buttons:
            raise LookupError(f"no button {label!r} in {list(buttons)[:8]}")
        query = {
            "id": f"q{self.user_id}-{next(self._message_ids)}",
            "from": self._user(),
            "chat_instance": "ci",
            "data": buttons[label],
            "message": {
                "message_id": 1,
                "date": int(datetime.now(UTC).timestamp()),
                "chat": {"id": self.user_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "돌봄"},
                "text": "…",
            },
        }
        await self._send({"callback_query": query})


@dataclass
class Outcome:
    people: int
    finished: int
    updates: int
    seconds: float
    latencies: list[float]
    failed_rows: int
    dead_rows: int
    open_rows: int
    unanswered: int
    orders: int
    statements: int
    errors: list[str]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.failed_rows + self.dead_rows + self.open_rows + self.unanswered + (self.people - self.finished)


# ---------------------------------------------------------------- databases


async def _fresh(url: str) -> None:
    from tests import conftest

    conftest.forget_pg_schema()
    await conftest.prepare(url)


async def own_pg_database(base_url: str, suffix: str) -> str:
    """Return the URL of a database of our own on ctx.db_url's server (created when missing)."""
    import asyncpg

    url = make_url(base_url)
    name = f"{url.database}_{suffix}"
    conn = await asyncpg.connect(str(url.set(drivername="postgresql", database="postgres")))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


def _count_statements(database: Any) -> list[int]:
    counter = [0]

    def _count(*_args: Any) -> None:
        counter[0] += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", _count)
    return counter


# ---------------------------------------------------------------- our path

_SYLLABLES = "영희순자민수정호경숙미라성진"


def _name(n: int) -> str:
    """A Korean name of three syllables, different for neighbouring n (the name step refuses digits)."""
    k = len(_SYLLABLES)
    return "김" + _SYLLABLES[n % k] + _SYLLABLES[(n // k) % k]


async def run_people(url: str, *, people: int, pace: float = 0.0) -> Outcome:
    """Everyone walks a complete meal request; return what happened."""
    from storage import inbound
    from storage.db import Database
    from storage.models import Inbound, Order
    from tests.bot import flow_steps
    from tests.factories import make_district

    await _fresh(url)
    database = Database(url)
    try:
        async with database.transaction() as session:
            await make_district(session)
        sent: dict[str, list[Any]] = defaultdict(list)
        answered: dict[int, asyncio.Future[float]] = {}
        inbox = _make_inbox(database, _make_session(sent), answered)
        receiver = Receiver(inbox)
        latencies: list[float] = []
        crowd = [
            Person(
                user_id=7_000_000 + i,
                receiver=receiver,
                sent=sent[str(7_000_000 + i)],
                answered=answered,
                latencies=latencies,
                phone=f"8210{55_000_000 + i:08d}",
                pace=pace,
            )
            for i in range(people)
        ]
        stop = asyncio.Event()
        statements = _count_statements(database)
        worker = asyncio.create_task(inbox.run(stop))
        receiving = asyncio.create_task(receiver.run(stop))
        errors: list[str] = []

        async def walk(person: Person, offset: float) -> bool:
            if offset:
                await asyncio.sleep(offset)
            person.next_at = time.monotonic()
            try:
                await flow_steps.full_request(person, name=_name(person.user_id))  # type: ignore[arg-type]
                return True
            except Exception as err:
                errors.append(f"{type(err).__name__}: {err}"[:200])
                return False

        started = time.monotonic()
        finished = await asyncio.gather(*(walk(p, (i * pace / people) if pace else 0.0) for i, p in enumerate(crowd)))
        seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(worker, receiving, return_exceptions=True)
        async with database.sessions() as session:
            failed = await session.scalar(select(func.count()).select_from(Inbound).where(Inbound.attempts > 0))
            by_status = await inbound.count_by_status(session)
            orders = await session.scalar(select(func.count()).select_from(Order))
        return Outcome(
            people=people,
            finished=sum(finished),
            updates=len(latencies),
            seconds=seconds,
            latencies=latencies,
            failed_rows=int(failed or 0),
            dead_rows=by_status.get(inbound.DEAD, 0),
            open_rows=by_status.get(inbound.PENDING, 0) + by_status.get(inbound.HANDLED, 0),
            unanswered=sum(p.unanswered for p in crowd),
            orders=int(orders or 0),
            statements=statements[0],
            errors=errors,
        )
    finally:
        await database.dispose()


# ---------------------------------------------------------------- the baseline


async def run_baseline(url: str, *, updates: int) -> float:
    """A bare Dispatcher, one INSERT per update in its own transaction; return updates per second."""
    from aiogram import Bot, Dispatcher, Router
    from aiogram.types import Message, Update

    from storage.db import Database

    await _fresh(url)
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_baseline"))
            await conn.execute(
                text("CREATE TABLE bench_baseline (update_id BIGINT PRIMARY KEY, chat_id BIGINT, body TEXT)")
            )
        dp = Dispatcher()
        router = Router()

        @router.message()
        async def one_insert(message: Message, update_id: int) -> None:
            async with database.transaction() as session:
                await session.execute(
                    text("INSERT INTO bench_baseline (update_id, chat_id, body) VALUES (:u, :c, :b)"),
                    {"u": update_id, "c": message.chat.id, "b": message.text},
                )

        dp.include_router(router)
        bot = Bot(token=TOKEN, session=_make_session(defaultdict(list)))
        raw = [
            {
                "update_id": 1 + n,
                "message": {
                    "message_id": n,
                    "date": int(time.time()),
                    "chat": {"id": 7_000_000 + n % 1000, "type": "private"},
                    "from": {"id": 7_000_000 + n % 1000, "is_bot": False, "first_name": "영희"},
                    "text": "망원로 12, 3층",
                },
            }
            for n in range(updates)
        ]
        slots = asyncio.Semaphore(BASELINE_AT_ONCE)

        async def feed(body: dict[str, Any]) -> None:
            async with slots:
                update = Update.model_validate(body, context={"bot": bot})
                await dp.feed_update(bot, update, update_id=body["update_id"])

        started = time.monotonic()
        await asyncio.gather(*(feed(body) for body in raw))
        seconds = time.monotonic() - started
        async with database.sessions() as session:
            stored = await session.scalar(text("SELECT count(*) FROM bench_baseline"))
        if stored != updates:
            raise RuntimeError(f"the baseline stored {stored} of {updates}")
        return updates / seconds
    finally:
        await database.dispose()


# ---------------------------------------------------------------- the figures


def _pool_note(url: str) -> str:
    from storage.db import Database

    database = Database(url)
    pool = database.engine.pool
    size = getattr(pool, "size", lambda: "?")()
    overflow = getattr(pool, "_max_overflow", "?")
    return f"pool {size}+{overflow}"


async def run(ctx: Any) -> list[Any]:
    """The intake figures for ctx.size on SQLite and PostgreSQL (a database of its own)."""
    from bench.common import Result, percentile

    people = PEOPLE[ctx.size]
    pg_url = await own_pg_database(ctx.db_url, "intake")
    sqlite_url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='dolbom-bench-intake-')) / 'bench.db'}"
    results: list[Any] = []
    for engine, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
        ours = await run_people(url, people=people)
        base = await run_baseline(url, updates=max(ours.updates, 1000))
        per_update = ours.statements / max(ours.updates, 1)
        detail = (
            f"{people} people, {ours.updates} updates in {ours.seconds:.1f} s; {per_update:.1f} SQL statements "
            f"per update; {ours.orders} orders; p50 {statistics.median(ours.latencies or [0]) * 1000:.0f} ms "
            f"p99 {percentile(ours.latencies, 99) * 1000:.0f} ms; {_pool_note(url)}"
        )
        if ours.errors:
            detail += f"; first error: {ours.errors[0]}"
        results.append(
            Result(
                f"intake {engine} lost",
                f"{ours.lost} failed or lost updates (failed {ours.failed_rows}, dead {ours.dead_rows}, "
                f"open {ours.open_rows}, unanswered {ours.unanswered}, people unfinished {people - ours.finished})",
                "0",
                ours.lost == 0 and ours.orders == people,
                note=detail,
            )
        )
        ratio = ours.rate / base if base else 0.0
        results.append(
            Result(
                f"intake {engine} throughput",
                f"{ours.rate:.0f} updates/s = {ratio:.2f}× the bare Dispatcher ({base:.0f} updates/s, one INSERT each)",
                "≥ 0.5×",
                ratio >= 0.5,
            )
        )
    steady_people, pace = STEADY[ctx.size]
    steady = await run_people(pg_url, people=steady_people, pace=pace)
    p99 = percentile(steady.latencies, 99) * 1000
    results.append(
        Result(
            "intake postgresql p99",
            f"{p99:.0f} ms per update at a steady {steady_people / pace:.0f} updates/s "
            f"(p50 {statistics.median(steady.latencies or [0]) * 1000:.0f} ms, achieved "
            f"{steady.rate:.0f}/s, {steady.lost} lost)",
            "< 200 ms",
            p99 < 200 and steady.lost == 0,
        )
    )
    return results


if __name__ == "__main__":
    import argparse

    from bench.common import DEFAULT_URL, Context

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("quick", "full"), default="quick")
    parser.add_argument("--db-url", default=os.environ.get("DOLBOM_BENCH_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--people", type=int, help="override the size's number of people (one run, both engines)")
    args = parser.parse_args()
    if args.people:
        PEOPLE[args.size] = args.people
    for line in asyncio.run(run(Context(size=args.size, db_url=args.db_url))):
        print(line.line())
