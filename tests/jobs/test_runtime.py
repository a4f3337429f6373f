"""The scheduler's set-up and the one-scheduler-per-database lock."""

from __future__ import annotations

import asyncio

import pytest

from dolbom.settings import Settings
from jobs import runtime
from storage.db import Database
from tests.conftest import pg_url


async def test_jobs_have_fixed_ids_coalesce_and_a_misfire_grace(db):
    scheduler = runtime.build_scheduler(database=db, settings=Settings())
    scheduler.start(paused=True)  # job defaults apply once the scheduler starts
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown(wait=False)
    assert set(jobs) == {
        "checkins.dispatch",
        "checkins.escalate",
        "chasers.assignments",
        "surveys.send",
        "digest.daily",
        "retention.purge",
    }
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time and job.misfire_grace_time >= 30
    assert str(scheduler.timezone) == "Asia/Seoul"


async def test_run_stops_when_asked(db):
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(database=db, settings=Settings(), stop=stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 10)


@pytest.mark.skipif(pg_url() is None, reason="the advisory lock is PostgreSQL's")
async def test_only_one_process_holds_the_scheduler_lock(db, monkeypatch):
    monkeypatch.setattr(runtime, "LOCK_POLL_SECONDS", 0.1)
    other = Database(db.url)
    try:
        first, second = runtime.Leadership(db), runtime.Leadership(other)
        stop = asyncio.Event()
        assert await first.acquire(stop)
        waiting = asyncio.create_task(second.acquire(stop))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # standing by
        await first.release()
        assert await asyncio.wait_for(waiting, 5)
        assert await second.alive()
        await second.release()
    finally:
        await other.dispose()
