"""The bot role of `dolbom serve`: Telegram polling, or webhook routes for the web role."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from dolbom.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)


def web_routers(*, database: Database, settings: Settings) -> list[APIRouter]:
    """Return the routes the bot adds to the web app (webhook, web chat)."""
    from bot import webchat

    routers = [webchat.router(database=database)]
    if settings.telegram_token and settings.telegram_mode == "webhook":
        from bot import telegram_webhook

        routers.append(telegram_webhook.webhook_router(database=database, settings=settings))
    return routers


async def run(
    *, database: Database, settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Run the bot until stop is set; ready is set once it has caught up (polling) or at once."""
    ready = ready or asyncio.Event()
    if not settings.telegram_token:
        log.info("DOLBOM_TELEGRAM_TOKEN is not set: Telegram is off")
        ready.set()
        await stop.wait()
        return
    from bot import telegram

    if settings.telegram_mode == "webhook":
        ready.set()  # the web role receives: nothing to wait for
        if settings.webhook_url:
            bot = telegram.make_bot(settings)
            try:
                await bot.set_webhook(
                    settings.webhook_url,
                    secret_token=settings.webhook_secret,
                    allowed_updates=["message", "edited_message", "callback_query", "my_chat_member"],
                )
                log.info("Telegram webhook registered")
            finally:
                await bot.session.close()
        else:
            log.warning("webhook mode without DOLBOM_WEBHOOK_URL: register the webhook by hand")
        # The web role stores what the webhook receives; this role handles and answers it.
        await telegram.run_worker(database=database, settings=settings, stop=stop)
        return

    await telegram.run_polling(database=database, settings=settings, stop=stop, ready=ready)
