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
import logging
import random
import time
import uuid
from collections import deque
from datetime import timedelta
from typing import Any

import httpx

from care import deliveries
from dolbom import clock
from dolbom.settings import Settings
from storage import outbox
from storage.db import Database, GroupCommit
from storage.models import Outbox

log = logging.getLogger("dolbom.jobs.sender")
PER_CHAT_INTERVAL = 1.0  # Telegram: about one message a second per chat
MAX_BACKOFF_SECONDS = 600.0


class RateLimiter:
    """An even-paced overall limit: at most `rate` sends a second, and never more in any one second.

    Sends are spaced evenly; a loop that stalled (a busy machine) catches up, but the sliding
    one-second window caps the catching up, so Telegram never sees a burst above the rate.
    """

    def __init__(self, rate: float) -> None:
        rate = max(0.1, min(rate, 1000.0))
        self.interval = 1.0 / rate
        self.per_second = max(1, int(rate))
        self._next = 0.0
        self._recent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)
        while True:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) < self.per_second:
                self._recent.append(now)
                return
            await asyncio.sleep(self._recent[0] + 1.0 - now)


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
        self.url = f"{settings.telegram_api_url.rstrip('/')}/bot{settings.telegram_token}/sendMessage"
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
        self._client: httpx.AsyncClient | None = None
        # "sending" is committed before the HTTP call and "sent" after it, as before, but for
        # many rows in one transaction each (the claim batch and concurrency reach 1,000/s).
        self._begin = GroupCommit(
            database, lambda s, ids: outbox.begin_send_many(s, row_ids=ids, sender_id=self.sender_id)
        )
        self._sent = GroupCommit(database, _mark_sent_many)

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

    async def run(self, stop: asyncio.Event) -> None:
        """Send until stop is set; on stop give back what was claimed but not attempted."""
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            self._client = client
            try:
                while not stop.is_set():
                    got = await self.fill()
                    if got == 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.poll_seconds)
                    else:
                        await asyncio.sleep(0)
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
                self._client = None

    async def fill(self) -> int:
        """Claim rows up to capacity and hand them to per-chat workers; return how many were claimed."""
        room = self.capacity - self._in_flight
        if room <= 0:
            await asyncio.sleep(0.05)
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
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            self._client = client
            while True:
                got = await self.fill()
                if self._workers:
                    await asyncio.gather(*self._workers.values(), return_exceptions=True)
                if got == 0 and not self._workers:
                    break
            self._client = None

    async def _chat_worker(self, chat_id: str) -> None:
        queue = self._queues[chat_id]
        try:
            while queue and not self._stopping:
                row = queue.popleft()
                try:
                    wait = self._chat_next.get(chat_id, 0.0) - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    async with self._slots:
                        if self._stopping:
                            break
                        await self.rate.acquire()
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
        if not await self._begin(row.id):
            return "lost"
        payload: dict[str, Any] = {"chat_id": row.chat_id, "text": row.text}
        markup = render_markup(row.buttons)
        if markup:
            payload["reply_markup"] = markup
        self._chat_next[row.chat_id] = time.monotonic() + PER_CHAT_INTERVAL
        try:
            response = await self._client.post(self.url, json=payload)
            # The next message to this chat goes a second after this one was answered, so it
            # cannot arrive within a second of this one however late this one arrived.
            self._chat_next[row.chat_id] = time.monotonic() + PER_CHAT_INTERVAL
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return await self._retry(row, f"network: {exc!r}")
        except httpx.HTTPError as exc:
            async with self.database.transaction() as session:
                await deliveries.settle_in_doubt(session, row=row, error=f"no reply: {exc!r}")
            return "in_doubt"
        return await self._outcome(row, response)

    async def _outcome(self, row: Outbox, response: httpx.Response) -> str:
        assert row.id is not None
        code = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        description = str(body.get("description") or response.text[:200])
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
