"""dolbom.runner: one role's failure does not take the others down; it is started again."""

from __future__ import annotations

import asyncio
import os
import signal

import jobs.runtime
from dolbom import runner
from dolbom.settings import Settings


async def test_a_role_that_fails_is_started_again_and_sigterm_still_stops_cleanly(monkeypatch, db, db_url):
    starts: list[int] = []

    async def flaky(*, database, settings, stop) -> None:  # type: ignore[no-untyped-def]
        starts.append(1)
        if len(starts) == 1:
            raise RuntimeError("database is locked")  # e.g. SQLite busy at start under load
        await stop.wait()

    monkeypatch.setattr(jobs.runtime, "run", flaky)

    async def up_to_date(database) -> bool:  # type: ignore[no-untyped-def]
        return False

    monkeypatch.setattr(runner.migrate, "upgrade_if_behind", up_to_date)
    serving = asyncio.create_task(runner.serve(settings=Settings(database_url=db_url), roles=("jobs",)))
    for _ in range(200):
        if len(starts) == 2 or serving.done():
            break
        await asyncio.sleep(0.05)
    assert len(starts) == 2 and not serving.done()
    os.kill(os.getpid(), signal.SIGTERM)  # serve's own handler: stop every role cleanly
    await asyncio.wait_for(serving, 20)  # no SystemExit: nothing failed for good
