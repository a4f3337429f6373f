"""The outbox sender: delivers telegram rows of the outbox to the Bot API, within Telegram's limits.

Never twice: a row is marked "sending" (committed) before its one HTTP call and "sent" after.
If the process dies between the two, nobody can know whether the chat got it; on the next start
the row is settled by its kind (docs/decisions/0007, care.deliveries): a receipt, notice or reply
is sent again as a marked copy, a check-in question is not repeated (its slot's reminder and
escalation go on). A reply that never came (read timeout, dropped connection after the request
went out) is settled the same way at once. Errors that certainly did not deliver (429, 5xx,
connection refused) are retried, and a chat's later rows wait for the retried one (per-chat order);
a row that fails for good goes to the dead letters and on the desk's notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
from yarl import URL

from care import deliveries
from dolbom import clock
from dolbom.settings import Settings
from storage import outbox
from storage.db import Database, GroupCommit
from storage.models import Outbox

log = logging.getLogger("dolbom.jobs.sender")
PER_CHAT_INTERVAL = 1.0  # Telegram: about one message a second per chat
JSON = {"Content-Type": "application/json"}
REFILL_SECONDS = 0.05  # between claims while rows are in hand: a claim takes a batch, not a row or two
MAX_BACKOFF_SECONDS = 600.0
TICK = 0.005  # the pacer lets sends go in small bursts per tick rather than one timer per message


class RateLimiter:
    """Telegram's overall limit: never more than `per_second` messages arrive there in any one second.

    `acquire` paces: sends are spaced evenly, released a tick's worth at a time (a timer per
    message at 1,000/s costs more than the sending). Pacing alone is not enough: Telegram counts
    a message when it arrives, and a busy machine (our loop, the network, their side stalling and
    then reading a backlog at once) bunches evenly spaced sends, so a window of sends counted when
    they start let a 30/s bot land its 34th message within one of Telegram's seconds. `admit` is
    the hard cap, counted so that no bunching can break it: a request counts from its start until
    one second after its reply came (a message has arrived by the time its reply comes, and after
    its start), so any second in which Telegram sees messages arrive sees at most `per_second`.
    The price is the reply time: a second holds `per_second` messages less what replies take,
    about 99% of the rate at a few milliseconds per reply.
    """

    def __init__(self, rate: float) -> None:
        rate = max(0.1, min(rate, 1000.0))
        self.interval = 1.0 / rate
        self.per_second = max(1, int(rate))
        self._next = 0.0
        self._open = 0  # requests started and not answered yet
        self._answered: deque[float] = deque()  # when the requests answered in the last second were

    async def acquire(self) -> None:
        """Wait for this send's place in the even pace."""
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot - now > TICK:
            await asyncio.sleep(slot - now)

    async def admit(self) -> None:
        """Wait until one more request keeps every second within the cap, and count it (then call done)."""
        answered = self._answered
        while True:
            now = time.monotonic()
            while answered and answered[0] <= now - 1.0:
                answered.popleft()
            if self._open + len(answered) < self.per_second:
                self._open += 1
                return
            # Only a reply leaving the window makes room; with none answered yet, look again shortly.
            await asyncio.sleep(answered[0] + 1.0 - now if answered else TICK)

    def done(self) -> None:
        """The admitted request was answered (or failed): it counts for one second more."""
        self._open -= 1
        self._answered.append(time.monotonic())


def render_markup(buttons: list[Any] | None) -> dict[str, Any] | None:
    """Return Telegram's inline_keyboard for the outbox's buttons JSON."""
    if not buttons:
        return None
    return {"inline_keyboard": [[{"text": b["text"], "callback_data": b["data"]} for b in row] for row in buttons]}


def backoff_seconds(attempts: int, base: float) -> float:
    """Return the wait before the next try: exponential with full jitter, capped."""
    return min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, attempts))) * random.uniform(0.5, 1.5)


class Sender:
    """Claims telegram outbox rows and sends them; run() until stop is set."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        max_attempts: int | None = None,
        backoff_base: float = 2.0,
        poll_seconds: float = 0.5,
        timeout: float = 20.0,
        stop_grace: float = 3.0,
    ) -> None:
        self.database = database
        self.settings = settings
        self.sender_id = uuid.uuid4().hex
        self.url = URL(f"{settings.telegram_api_url.rstrip('/')}/bot{settings.telegram_token}/sendMessage")
        self.max_attempts = max_attempts or settings.outbox_max_attempts
        self.backoff_base = backoff_base
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.stop_grace = stop_grace
        self.concurrency = max(1, settings.outbox_concurrency)
        self.rate = RateLimiter(settings.outbox_rate_per_second)
        self.capacity = max(self.concurrency * 4, int(settings.outbox_rate_per_second * 2), 10)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._queues: dict[str, deque[Outbox]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._chat_next: dict[str, float] = {}
        self._in_flight = 0
        self._stopping = False
        self._client: aiohttp.ClientSession | None = None
        # "sending" is committed before the HTTP call and "sent" after it, as before, but for
        # many rows in one statement each (the claim batch and concurrency reach 1,000/s).
        self._begin = GroupCommit(
            database,
            lambda s, ids: outbox.begin_send_many(s, row_ids=ids, sender_id=self.sender_id),
            one_statement=True,
        )
        self._sent = GroupCommit(database, _mark_sent_many, one_statement=True)

    async def recover(self) -> deliveries.Recovered:
        """Release what a dead predecessor claimed; settle what it was sending. Only as the one sender."""
        async with self.database.transaction() as session:
            done = await deliveries.recover(session)
        if done.released or done.resent or done.not_repeated:
            log.warning(
                "outbox recovered: %d released, %d in doubt sent again marked, %d check-in questions not repeated",
                done.released,
                done.resent,
                done.not_repeated,
            )
        return done

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        # aiohttp (aiogram's own client) rather than httpx: at 1,000/s httpx's per-request work
        # (its connection pool's bookkeeping for every queued request) took more CPU than
        # everything else the sender does. The pool holds one connection per concurrent send.
        # "connect" covers waiting for a pooled connection and connecting: a request that timed
        # out there never left; "sock_read" is the reply that did not come (in doubt).
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False
        ) as client:
            self._client = client
            try:
                yield client
            finally:
                self._client = None

    async def run(self, stop: asyncio.Event) -> None:
        """Send until stop is set; on stop give back what was claimed but not attempted."""
        async with self._session():
            try:
                while not stop.is_set():
                    got = await self.fill()
                    # Claimed some (or had no room): look again in a moment, not at once; the
                    # claimed rows keep the sending busy meanwhile.
                    wait = self.poll_seconds if got == 0 else min(self.poll_seconds, REFILL_SECONDS)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
            finally:
                self._stopping = True
                workers = list(self._workers.values())
                if workers:
                    await asyncio.wait(workers, timeout=self.stop_grace)
                for task in workers:
                    task.cancel()
                with contextlib.suppress(Exception):
                    async with self.database.transaction() as session:
                        await outbox.release_claims(session, sender_id=self.sender_id)

    async def fill(self) -> int:
        """Claim rows up to capacity and hand them to per-chat workers; return how many were claimed."""
        room = self.capacity - self._in_flight
        # A claim costs its transaction (four statements) however few rows it takes: while rows are
        # still in hand, claim again only when a quarter of the capacity has come free.
        if room <= 0 or (self._in_flight > 0 and room < self.capacity // 4):
            return -1
        async with self.database.transaction() as session:
            rows = await outbox.claim(session, sender_id=self.sender_id, limit=room)
        for row in rows:
            self._in_flight += 1
            self._queues.setdefault(row.chat_id, deque()).append(row)
            if row.chat_id not in self._workers:
                self._workers[row.chat_id] = asyncio.create_task(self._chat_worker(row.chat_id))
        return len(rows)

    async def drain(self) -> None:
        """Claim and send until nothing is due (tests and one-shot use)."""
        async with self._session():
            while True:
                got = await self.fill()
                if self._workers:
                    await asyncio.gather(*self._workers.values(), return_exceptions=True)
                if got == 0 and not self._workers:
                    break

    async def _chat_worker(self, chat_id: str) -> None:
        queue = self._queues[chat_id]
        try:
            while queue and not self._stopping:
                row = queue.popleft()
                try:
                    wait = self._chat_next.get(chat_id, 0.0) - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await self.rate.acquire()
                    if self._stopping:
                        break
                    outcome = await self.send_one(row)
                    if outcome == "retry":
                        # This row waits (429's retry_after, a backoff): the chat's later rows must not
                        # overtake it. They go back unsent; the claim takes them after this one.
                        await self._give_back(queue)
                except Exception:  # a broken row must not stop the chat's other rows
                    log.exception("outbox row %s failed unexpectedly", row.id)
                finally:
                    self._in_flight -= 1
        finally:
            self._in_flight -= len(queue)
            queue.clear()
            self._queues.pop(chat_id, None)
            self._workers.pop(chat_id, None)

    async def _give_back(self, queue: deque[Outbox]) -> None:
        ids = [r.id for r in queue if r.id is not None]
        self._in_flight -= len(queue)
        queue.clear()
        async with self.database.transaction() as session:
            await outbox.release(session, row_ids=ids, sender_id=self.sender_id)

    async def send_one(self, row: Outbox) -> str:
        """Send one claimed row and record the outcome; return it (sent|retry|dead|unreachable|in_doubt|lost)."""
        assert row.id is not None and self._client is not None
        payload: dict[str, Any] = {"chat_id": row.chat_id, "text": row.text}
        markup = render_markup(row.buttons)
        if markup:
            payload["reply_markup"] = markup
        body = json.dumps(payload).encode()
        # The slot bounds the rows "sending" at any moment (those a crash leaves in doubt): it is
        # held from the "sending" mark until the outcome is recorded, "sent" included.
        async with self._slots:
            if not await self._begin(row.id):
                return "lost"
            await self.rate.admit()
            self._chat_next[row.chat_id] = time.monotonic() + PER_CHAT_INTERVAL
            try:
                try:
                    async with self._client.post(self.url, data=body, headers=JSON) as response:
                        code, raw = response.status, await response.read()
                finally:
                    self.rate.done()
                # The next message to this chat goes a second after this one was answered, so it
                # cannot arrive within a second of this one however late this one arrived.
                self._chat_next[row.chat_id] = time.monotonic() + PER_CHAT_INTERVAL
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Refused, unreachable, or no connection within the timeout: the request never left.
                return await self._retry(row, f"network: {exc!r}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                async with self.database.transaction() as session:
                    await deliveries.settle_in_doubt(session, row=row, error=f"no reply: {exc!r}")
                return "in_doubt"
            return await self._outcome(row, code, raw)

    async def _outcome(self, row: Outbox, code: int, raw: bytes) -> str:
        assert row.id is not None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        description = str(body.get("description") or raw[:200].decode("utf-8", "replace"))
        if code == 200 and body.get("ok", True):
            await self._sent(row.id)
            return "sent"
        if code == 429:
            retry_after = float((body.get("parameters") or {}).get("retry_after") or 1)
            self._chat_next[row.chat_id] = time.monotonic() + retry_after
            async with self.database.transaction() as session:
                await outbox.retry_later(
                    session,
                    row_id=row.id,
                    not_before=clock.now() + timedelta(seconds=retry_after),
                    error=f"429 retry after {retry_after:g}s",
                    count_attempt=False,
                )
            return "retry"
        if code == 403:
            async with self.database.transaction() as session:
                await deliveries.give_up(session, row=row, error=f"403 {description}", blocked=True)
            log.warning("chat %s is unreachable (403)", row.chat_id)
            return "unreachable"
        if code >= 500:
            return await self._retry(row, f"{code} {description}")
        async with self.database.transaction() as session:
            await deliveries.give_up(session, row=row, error=f"{code} {description}")
        return "dead"

    async def _retry(self, row: Outbox, error: str) -> str:
        assert row.id is not None
        attempts = row.attempts + 1
        async with self.database.transaction() as session:
            if attempts >= self.max_attempts:
                await deliveries.give_up(session, row=row, error=error)
                return "dead"
            delay = backoff_seconds(row.attempts, self.backoff_base)
            await outbox.retry_later(
                session, row_id=row.id, not_before=clock.now() + timedelta(seconds=delay), error=error
            )
        return "retry"


async def _mark_sent_many(session: Any, ids: list[int]) -> None:
    await outbox.mark_sent_many(session, row_ids=ids)
