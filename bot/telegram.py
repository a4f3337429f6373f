"""The Telegram adapter (aiogram 3): updates in, core.handle, replies out. Nothing of a flow lives here.

Updates are deduplicated by (bot id, update id) in the same transaction as their effect; callback
queries are answered at once; "message is not modified" and "query is too old" are not errors;
a person who blocks the bot (my_chat_member "kicked") is marked unreachable. Logs never hold
what people typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    ChatMemberUpdated,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
)
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from bot import core
from bot.messages import Incoming, Kind, Reply
from care import intake, parsing
from dolbom.errors import AppError
from dolbom.i18n import N_, gettext
from dolbom.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MSG_APOLOGY = N_("Sorry, something went wrong on our side. Please try again, or press /start.")
HARMLESS = ("message is not modified", "query is too old", "query id is invalid", "message to edit not found")


def is_harmless(err: BaseException) -> bool:
    """True for Bot API answers that only mean 'nothing to do' (not modified, query too old)."""
    return isinstance(err, TelegramBadRequest) and any(h in str(err).lower() for h in HARMLESS)


async def quietly(call: Awaitable[Any]) -> Any:
    """Await a Bot API call whose failure must not stop the reply (harmless answers, old messages)."""
    try:
        return await call
    except TelegramAPIError as err:
        if not is_harmless(err):
            log.info("Bot API call failed: %s", type(err).__name__)
        return None


def make_bot(settings: Settings) -> Bot:
    """Return a Bot talking to the configured Bot API server."""
    if not settings.telegram_token:
        raise RuntimeError("DOLBOM_TELEGRAM_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(token=settings.telegram_token, session=session)


def make_dispatcher(database: Database) -> Dispatcher:
    """Return a Dispatcher that feeds updates to the conversation core."""
    core.load_flows()
    dp = Dispatcher(database=database)
    router = Router(name="dolbom")
    router.message.register(on_message)
    router.edited_message.register(on_edited_message)
    router.callback_query.register(on_callback)
    router.my_chat_member.register(on_my_chat_member)
    dp.include_router(router)
    dp.update.outer_middleware(InOrder())
    dp.errors.register(on_error)
    return dp


# ---------------------------------------------------------------- rendering


def markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """Return the Telegram keyboard for a reply."""
    if reply.contact_button:
        # Telegram cannot mix the share-contact keyboard with inline buttons: the other buttons
        # become plain keys whose text the core understands (처음으로, 취소).
        keys = [[KeyboardButton(text=reply.contact_button, request_contact=True)]]
        keys += [[KeyboardButton(text=b.text) for b in row] for row in reply.buttons]
        return ReplyKeyboardMarkup(keyboard=keys, resize_keyboard=True, one_time_keyboard=True)
    if reply.buttons:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row] for row in reply.buttons
            ]
        )
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


async def send_replies(bot: Bot, chat_id: int | str, replies: list[Reply], *, database: Database) -> None:
    """Send the replies in order; a person who blocked the bot is marked unreachable."""
    for reply in replies:
        try:
            await bot.send_message(chat_id=chat_id, text=reply.text, reply_markup=markup(reply))
        except TelegramForbiddenError:
            async with database.transaction() as session:
                await intake.set_reachable(session, channel=CHANNEL, user_key=str(chat_id), reachable=False)
            return


class InOrder(BaseMiddleware):
    """Handle one chat's updates one at a time, in the order they arrived (polling runs them as tasks).

    The version check already keeps two updates from being applied at once; this keeps a quick
    "name, then phone" from being applied phone first.
    """

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat_id = _chat_of(event)[0] if isinstance(event, Update) else None
        if chat_id is None:
            return await handler(event, data)
        lock, users = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                return await handler(event, data)
        finally:
            lock, users = self._locks[chat_id]
            if users <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)


# ---------------------------------------------------------------- handlers


def _language(message: Message | CallbackQuery) -> str | None:
    user = message.from_user
    return user.language_code if user else None


def _incoming_from_message(message: Message, *, edited: bool = False) -> Incoming:
    kind: Kind
    text: str | None = None
    contact_user_id: str | None = None
    if message.text is not None:
        text = message.text
        kind = "edited" if edited else ("command" if text.startswith("/") else "text")
    elif message.contact is not None and not edited:
        kind, text = "contact", message.contact.phone_number
        if text and not text.startswith("+"):
            text = "+" + text
        if message.contact.user_id is not None:
            contact_user_id = str(message.contact.user_id)
    else:
        kind = "unsupported"
    user = message.from_user
    return Incoming(
        channel=CHANNEL,
        user_key=str(message.chat.id),
        kind=kind,
        text=text,
        language=_language(message),
        message_id=str(message.message_id),
        display_name=user.full_name if user else None,
        sender_id=str(user.id) if user else None,
        contact_user_id=contact_user_id,
    )


async def on_message(message: Message, bot: Bot, database: Database, event_update: Update) -> None:
    if message.chat.type != "private":
        return
    incoming = _incoming_from_message(message)
    replies = await core.handle(database, incoming, dedupe=(bot.id, event_update.update_id))
    if replies is None:
        return
    if incoming.text and parsing.contains_registration_number(incoming.text):
        # Take it out of the chat too; the core kept nothing of it.
        await quietly(bot.delete_message(chat_id=message.chat.id, message_id=message.message_id))
    await send_replies(bot, message.chat.id, replies, database=database)


async def on_edited_message(message: Message, bot: Bot, database: Database, event_update: Update) -> None:
    if message.chat.type != "private":
        return
    incoming = _incoming_from_message(message, edited=True)
    replies = await core.handle(database, incoming, dedupe=(bot.id, event_update.update_id))
    if replies is None:
        return
    if incoming.text and parsing.contains_registration_number(incoming.text):
        await quietly(bot.delete_message(chat_id=message.chat.id, message_id=message.message_id))
    await send_replies(bot, message.chat.id, replies, database=database)


async def on_callback(query: CallbackQuery, bot: Bot, database: Database, event_update: Update) -> None:
    answering: list[asyncio.Task[Any]] = []

    def answer_now() -> None:
        # Stops the button's spinner at once, without holding the transaction open for it.
        answering.append(asyncio.ensure_future(quietly(query.answer())))

    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    incoming = Incoming(
        channel=CHANNEL,
        user_key=str(chat_id),
        kind="callback",
        data=query.data,
        language=_language(query),
        display_name=query.from_user.full_name,
    )
    replies = await core.handle(database, incoming, dedupe=(bot.id, event_update.update_id), on_accepted=answer_now)
    for task in answering:
        await task
    if replies is None:
        return
    data = query.data or ""
    if isinstance(query.message, Message) and (data.startswith("n") or data.startswith("g:")):
        # The question is answered: take its buttons away so they cannot be pressed again.
        await quietly(
            bot.edit_message_reply_markup(chat_id=chat_id, message_id=query.message.message_id, reply_markup=None)
        )
    await send_replies(bot, chat_id, replies, database=database)


async def on_my_chat_member(event: ChatMemberUpdated, bot: Bot, database: Database, event_update: Update) -> None:
    if event.chat.type != "private":
        return
    status = event.new_chat_member.status
    if status not in ("kicked", "member"):
        return
    async with database.transaction() as session:
        from storage import conversations

        if not await conversations.mark_processed(session, bot_id=bot.id, update_id=event_update.update_id):
            return
        await intake.set_reachable(session, channel=CHANNEL, user_key=str(event.chat.id), reachable=status == "member")
    log.info("telegram chat %s is %s", "blocked" if status == "kicked" else "open again", event.chat.id)


def _chat_of(update: Update) -> tuple[int | None, str | None]:
    if update.message is not None:
        return update.message.chat.id, _language(update.message)
    if update.edited_message is not None:
        return update.edited_message.chat.id, _language(update.edited_message)
    if update.callback_query is not None:
        query = update.callback_query
        return (query.message.chat.id if query.message else query.from_user.id), _language(query)
    return None, None


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Turn an error into a kind message: AppError in its own words, anything else an apology."""
    err = event.exception
    if is_harmless(err):
        return True
    chat_id, language = _chat_of(event.update)
    if isinstance(err, AppError):
        params = {k: gettext(v, language) if isinstance(v, str) else v for k, v in err.params.items()}
        text = gettext(err.msgid, language, **params)
        log.info("update %s: %s", event.update.update_id, type(err).__name__)
    else:
        text = gettext(MSG_APOLOGY, language)
        log.error("update %s failed: %s", event.update.update_id, type(err).__name__, exc_info=err)
    if chat_id is not None:
        await quietly(bot.send_message(chat_id=chat_id, text=text))
    return True


# ---------------------------------------------------------------- webhook and polling


def webhook_router(*, database: Database, settings: Settings) -> APIRouter:
    """Return the webhook route: checks the secret header in constant time, then feeds the update."""
    router = APIRouter()
    bot = make_bot(settings)
    dp = make_dispatcher(database)
    secret = (settings.webhook_secret or "").encode()

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            raise HTTPException(status_code=403)
        payload = await request.json()
        update = Update.model_validate(payload, context={"bot": bot})
        await dp.feed_update(bot, update)
        return JSONResponse({"ok": True})

    return router


COMMANDS = [("start", N_("Start over")), ("cancel", N_("Cancel what you are doing"))]


async def run_polling(*, database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Poll the Bot API until stop is set; let updates in progress finish."""
    bot = make_bot(settings)
    dp = make_dispatcher(database)
    with contextlib.suppress(TelegramAPIError, OSError, asyncio.TimeoutError):
        await bot.delete_webhook(drop_pending_updates=False)
    with contextlib.suppress(TelegramAPIError, OSError, asyncio.TimeoutError):
        await bot.set_my_commands([BotCommand(command=c, description=gettext(d, "ko")) for c, d in COMMANDS])
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=10)
    )
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await asyncio.wait_for(dp.stop_polling(), timeout=5)
        if not polling.done():
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        in_flight = list(dp._handle_update_tasks)
        if in_flight:
            await asyncio.wait(in_flight, timeout=5)
        await bot.session.close()
    if polling.done() and not polling.cancelled() and polling.exception():
        raise polling.exception()  # type: ignore[misc]
