"""The jobs process as it runs in production: `dolbom serve --only jobs`, killed and restarted.

A stand-in Bot API server on loopback counts every message it receives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select, text

from care import checkins
from dolbom import clock
from storage import migrate
from storage.db import Database
from storage.models import Outbox, Resident, ResidentChannel
from tests import factories
from tests.conftest import pg_url, prepare
from tests.e2e.botapi import StandIn

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
N = 500


async def _stamp(url: str) -> None:
    """The schema is built by create_all; tell Alembic it is at head so `serve` migrates nothing."""
    await asyncio.to_thread(command.stamp, migrate.alembic_config(url), "head")


async def _unstamp(url: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await db.dispose()


async def _seed(db: Database, n: int, *, first: int = 0) -> None:
    """n residents on telegram, each with a check-in due now (every day at 00:00)."""
    async with db.transaction() as session:
        place = await factories.make_district(session)
        residents = [
            Resident(
                district_id=place.district_id, dong_id=place.dongs[0].id, name=f"주민{i}", phone=f"010-1000-{i:04d}"
            )
            for i in range(first, first + n)
        ]
        session.add_all(residents)
        await session.flush()
        for i, r in zip(range(first, first + n), residents, strict=True):
            # Their own chats (decision 0009: check-ins go only to verified ones).
            session.add(
                ResidentChannel(
                    resident_id=r.id,
                    channel="telegram",
                    user_key=f"c{i}",
                    verified_at=clock.now(),
                    verified_how="telegram_contact",
                )
            )
            with clock.freeze(clock.now() - timedelta(days=1)):  # set yesterday, so today's 00:00 is owed
                await checkins.set_schedule(session, resident_id=r.id, weekdays=list(range(7)), at_minute=0)


def _start(url: str, api: str, log: Path, concurrency: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOLBOM_")},
        "DOLBOM_DATABASE_URL": url,
        "DOLBOM_TELEGRAM_TOKEN": "123456:TEST",
        "DOLBOM_TELEGRAM_API_URL": api,
        "DOLBOM_OUTBOX_RATE_PER_SECOND": "1000",
        "DOLBOM_OUTBOX_CONCURRENCY": str(concurrency),
    }
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "dolbom", "serve", "--only", "jobs"], cwd=ROOT, env=env, stdout=out, stderr=out
    )


async def _wait_for(predicate, limit: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def jobs_db(db_url: str):  # type: ignore[no-untyped-def]
    await prepare(db_url)
    await _stamp(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()
        await _unstamp(db_url)


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_killed_mid_dispatch_every_checkin_is_sent_once(jobs_db, db_url, tmp_path, concurrency):
    await _seed(jobs_db, N)
    server = await StandIn().start()
    log = tmp_path / "jobs.log"
    procs = []
    try:
        first = _start(db_url, server.url, log, concurrency)
        procs.append(first)
        server.kill_pid_at = (first.pid, N // 3)
        await _wait_for(lambda: asyncio.sleep(0, first.poll() is not None), 60, "the kill")
        assert first.returncode == -signal.SIGKILL
        assert len(server.received) < N  # killed in the middle

        second = _start(db_url, server.url, log, concurrency)
        procs.append(second)

        async def settled() -> bool:
            async with jobs_db.sessions() as s:
                open_rows = await s.scalar(
                    select(func.count()).where(Outbox.status.in_(["pending", "claimed", "sending"]))
                )
                total = await s.scalar(select(func.count()).select_from(Outbox))
            return total == N and open_rows == 0

        await _wait_for(settled, 60, "every check-in to be handled")
        _stop(second)
        assert second.returncode == 0  # SIGTERM stops it cleanly
    finally:
        for p in procs:
            _stop(p)
        await server.stop()

    counts = server.counts()
    assert max(counts.values()) == 1, "a check-in was sent twice"
    async with jobs_db.sessions() as s:
        rows = list((await s.execute(select(Outbox))).scalars())
    # Check-in questions in doubt are not asked again (decision 0007): their slots go on to the
    # reminder and escalation; no row waits for a person.
    in_doubt = {r.chat_id for r in rows if r.status == "not_repeated"}
    sent = {r.chat_id for r in rows if r.status == "sent"}
    assert len(sent | in_doubt) == N and not sent & in_doubt
    assert sent <= set(counts)
    assert not [r for r in rows if r.status in ("unconfirmed", "dead")]
    if concurrency == 1:
        # One send at a time: the one in flight at the kill reached the server; nothing else is in doubt.
        assert len(counts) == N and len(in_doubt) == 1
    else:
        # In doubt are at most the sends in flight at the kill; never asked twice.
        assert 1 <= len(in_doubt) <= concurrency
        assert len(counts) >= N - concurrency + 1


@pytest.mark.skipif(pg_url() is None, reason="the scheduler lock is PostgreSQL's (SQLite runs one process)")
async def test_two_jobs_processes_one_active_and_the_other_takes_over(jobs_db, db_url, tmp_path):
    await _seed(jobs_db, 1, first=0)
    server = await StandIn().start()
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = b = None
    try:
        a = _start(db_url, server.url, log_a, 1)
        await _wait_for(lambda: asyncio.sleep(0, len(server.received) == 1), 30, "the first check-in")
        b = _start(db_url, server.url, log_b, 1)
        await _wait_for(lambda: asyncio.sleep(0, "standing by" in log_b.read_text()), 30, "the standby")
        assert "holds the scheduler lock" in log_a.read_text()
        assert "holds the scheduler lock" not in log_b.read_text()

        a.kill()
        a.wait()
        killed_at = time.monotonic()
        await _seed(jobs_db, 1, first=1)  # a new check-in due now: only an active scheduler sends it
        await _wait_for(lambda: asyncio.sleep(0, len(server.received) == 2), 60, "the takeover")
        assert time.monotonic() - killed_at < 60
        assert "holds the scheduler lock" in log_b.read_text()
    finally:
        for p in (a, b):
            if p is not None:
                _stop(p)
        await server.stop()
    assert server.counts() == {"c0": 1, "c1": 1}
