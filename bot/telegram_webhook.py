"""The Telegram webhook route for the web role: checks the secret, stores the update, answers 200.

Apart from bot.telegram so that the polling bot (the path a restart after a crash waits for)
never imports FastAPI.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from bot.telegram import Inbox, make_bot, make_dispatcher
from dolbom.settings import Settings
from storage.db import Database

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_router(*, database: Database, settings: Settings) -> APIRouter:
    """Return the webhook route: checks the secret in constant time, stores the update, then answers 200.

    The update is handled by the bot role's inbox worker (run_worker), in this process or another.
    """
    router = APIRouter()
    bot = make_bot(settings)
    inbox = Inbox(database=database, bot=bot, dp=make_dispatcher(database))
    secret = (settings.webhook_secret or "").encode()

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            raise HTTPException(status_code=403)
        try:
            payload = await request.json()
            valid = isinstance(payload, dict) and isinstance(payload.get("update_id"), int)
        except ValueError:
            valid = False
        if not valid:
            raise HTTPException(status_code=400)
        # Stored before the 200: Telegram never sends again what it was told we have.
        await inbox.receive([payload])
        return JSONResponse({"ok": True})

    return router
