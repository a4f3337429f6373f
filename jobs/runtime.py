"""The jobs role of `dolbom serve`: the scheduler and the outbox sender."""

from __future__ import annotations

import asyncio

from dolbom.settings import Settings
from storage.db import Database


async def run(*, database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Run the scheduled jobs until stop is set."""
    await stop.wait()
