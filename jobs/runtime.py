"""The jobs role of `dolbom serve`: the scheduler and the outbox sender.

Exactly one jobs process is active per database. On PostgreSQL it holds a session advisory
lock on a connection of its own; another `--only jobs` process polls for the lock and takes
over within seconds when the first one dies (its connection closes, the lock goes with it).
On SQLite there is one process, and no lock.

APScheduler 3 keeps its jobs in memory, defined here with fixed ids; the due work itself
lives in our tables, so a restart loses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dolbom import clock
from dolbom.settings import Settings
from jobs import tasks
from jobs.sender import Sender
from storage.db import Database

log = logging.getLogger("dolbom.jobs")

LOCK_KEY = 0x646F6C626F6D  # "dolbom": the advisory lock id of the scheduler
LOCK_POLL_SECONDS = 5.0  # a standby retries this often: takeover well within a minute
LOCK_CHECK_SECONDS = 10.0  # the leader checks its lock connection this often
STOP_GRACE_SECONDS = 3.0  # dolbom.runner gives every role 8 s in all


class Leadership:
    """The right to run the scheduler: a PostgreSQL advisory lock, or nothing on SQLite."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.conn: AsyncConnection | None = None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lock; return False when stop was set first."""
        if self.database.is_sqlite:
            return not stop.is_set()
        waiting_logged = False
        while not stop.is_set():
            try:
                conn = await self.database.engine.connect()
                try:
                    got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar()
                    await conn.commit()
                except Exception:
                    await conn.close()
                    raise
                if got:
                    self.conn = conn
                    log.info("jobs: this process holds the scheduler lock")
                    return True
                await conn.close()
                if not waiting_logged:
                    log.info("jobs: another process runs the scheduler; standing by")
                    waiting_logged = True
            except Exception:
                log.exception("jobs: could not ask for the scheduler lock")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LOCK_POLL_SECONDS)
        return False

    async def alive(self) -> bool:
        """Return True while the lock connection still works."""
        if self.conn is None:
            return True
        try:
            await self.conn.execute(text("SELECT 1"))
            await self.conn.commit()
            return True
        except Exception:
            log.exception("jobs: the scheduler lock connection failed")
            return False

    async def release(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await conn.commit()
            await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()


class Running:
    """The jobs running now, so a stop can let them finish instead of cutting a transaction short."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


def _guarded(
    name: str, job: Callable[[Database], Awaitable[Any]], database: Database, running: Running
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        running.enter()
        try:
            await job(database)
        except asyncio.CancelledError:
            # Only at shutdown, after the grace time: its transaction was rolled back, and the
            # due work is still in the tables for the next start.
            log.warning("job %s was stopped before it finished", name)
        except Exception:
            log.exception("job %s failed; it runs again at its next time", name)
        finally:
            running.leave()

    run.__name__ = name
    return run


def build_scheduler(*, database: Database, settings: Settings, running: Running | None = None) -> AsyncIOScheduler:
    """Return the scheduler with every job, fixed ids, coalescing and misfire grace."""
    zone = clock.zone()
    running = running or Running()
    scheduler = AsyncIOScheduler(
        timezone=zone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    start = datetime.now(zone)
    every = [
        ("checkins.dispatch", tasks.checkin_dispatch, 30),
        ("checkins.escalate", tasks.checkin_escalate, 60),
        ("chasers.assignments", tasks.assignment_deadlines, 60),
        ("surveys.send", tasks.survey_send, 300),
        # Daily work runs often and is idempotent (written once per day), so a restart or a
        # process that was down at the hour still does it: nothing depends on a cron firing.
        ("digest.daily", tasks.daily_digest, 900),
        ("retention.purge", tasks.retention_purge, 3600),
    ]
    for job_id, func, seconds in every:
        scheduler.add_job(
            _guarded(job_id, func, database, running),
            "interval",
            seconds=seconds,
            id=job_id,
            name=job_id,
            next_run_time=start,
            replace_existing=True,
        )
    return scheduler


async def _lead(*, database: Database, settings: Settings, stop: asyncio.Event, leadership: Leadership) -> None:
    """Run scheduler and sender while holding leadership, until stop or the lock is lost."""
    inner = asyncio.Event()
    running = Running()
    scheduler = build_scheduler(database=database, settings=settings, running=running)
    sender_task: asyncio.Task[None] | None = None
    if settings.telegram_token:
        sender = Sender(database=database, settings=settings, stop_grace=STOP_GRACE_SECONDS)
        await sender.recover()
        sender_task = asyncio.create_task(sender.run(inner), name="outbox-sender")
    else:
        log.info("jobs: no DOLBOM_TELEGRAM_TOKEN, telegram messages wait in the outbox")
    scheduler.start()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LOCK_CHECK_SECONDS)
            if sender_task is not None and sender_task.done():
                sender_task.result()  # raise what stopped it
            if not stop.is_set() and not await leadership.alive():
                log.error("jobs: lost the scheduler lock; stepping down")
                break
    finally:
        # No new runs; let running jobs and in-flight sends finish within the stop grace.
        scheduler.pause()
        inner.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.idle.wait(), STOP_GRACE_SECONDS)
        scheduler.shutdown(wait=False)
        if sender_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender_task, timeout=STOP_GRACE_SECONDS)


async def run(*, database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Run the scheduled jobs until stop is set (on PostgreSQL only while holding the lock)."""
    # httpx logs every request URL at INFO, and the Bot API URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    while not stop.is_set():
        leadership = Leadership(database)
        if not await leadership.acquire(stop):
            return
        try:
            await _lead(database=database, settings=settings, stop=stop, leadership=leadership)
        finally:
            await leadership.release()
