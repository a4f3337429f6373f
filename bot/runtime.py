"""The bot role of `dolbom serve`: Telegram polling, or webhook routes for the web role."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from dolbom.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)


def web_routers(*, database: Database, settings: Settings) -> list[APIRouter]:
    """Return the routes the bot adds to the web app (webhook, web chat)."""
    return []


async def run(*, database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Run the bot until stop is set."""
    if not settings.telegram_token:
        log.info("DOLBOM_TELEGRAM_TOKEN is not set: Telegram is off")
    await stop.wait()
