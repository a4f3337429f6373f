"""The Telegram adapter (aiogram 3): updates in, core.handle, replies out. Nothing of a flow lives here.

Every update goes through the inbox (storage.inbound, decision 0006): the receiver (our own
getUpdates loop, or the webhook) stores it before confirming it to Telegram; the worker handles
it in per-chat order in the transaction that marks it handled and stores the replies, and sends
the replies after the commit. aiogram still parses the updates, talks to the Bot API and routes
them (`dp.feed_update`). Callback queries are answered at once; "message is not modified" and
"query is too old" are not errors; a person who blocks the bot (my_chat_member "kicked") is
marked unreachable. Logs never hold what people typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from bot import core
from bot.messages import Button, Incoming, Kind, Reply
from care import dead_letters, intake, parsing, registration_numbers
from dolbom import clock
from dolbom.errors import AppError
from dolbom.i18n import N_, gettext
from dolbom.settings import Settings
from storage import inbound
from storage.db import Database, GroupCommit

log = logging.getLogger(__name__)

CHANNEL = "telegram"
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


class _Send(SendMessage):
    """sendMessage with its result left as Telegram's JSON: nothing here reads the message sent.

    aiogram parses each result into its `__returning__` type; for `Message` the first parse builds
    the validator of Message and every type under it, about a tenth of a second of a restart's CPU
    before its first answer goes out (decision 0019). Refusals (403, 429, 400, 5xx) are read from
    the response's envelope as before and raise the same exceptions.
    """

    __returning__ = dict  # type: ignore[assignment]


async def _send(bot: Bot, chat_id: int | str, reply: Reply) -> None:
    await bot(_Send.model_validate({"chat_id": chat_id, "text": reply.text, "reply_markup": markup(reply)}))


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


def reply_action(chat_id: int | str, reply: Reply) -> dict[str, Any]:
    """Return a reply as a stored action (the inbox row keeps it until it went out)."""
    return {
        "op": "send",
        "chat_id": str(chat_id),
        "text": reply.text,
        "buttons": reply.buttons_json(),
        "contact_button": reply.contact_button,
        "remove_keyboard": reply.remove_keyboard,
    }


def _reply_of(action: dict[str, Any]) -> Reply:
    buttons = [[Button(text=b["text"], data=b["data"]) for b in row] for row in action.get("buttons") or []]
    return Reply(
        text=action["text"],
        buttons=buttons,
        contact_button=action.get("contact_button"),
        remove_keyboard=bool(action.get("remove_keyboard")),
    )


async def send_replies(bot: Bot, chat_id: int | str, replies: list[Reply], *, database: Database) -> None:
    """Send the replies in order; a person who blocked the bot is marked unreachable."""
    for reply in replies:
        try:
            await _send(bot, chat_id, reply)
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
        if (message.model_extra or {}).get(SCRUBBED_MARK):
            text = RRN_PLACEHOLDER  # the inbox stored REDACTED; see SCRUBBED_MARK
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


def _need(claim: core.Claim | None) -> core.Claim:
    if claim is None:
        # Every update goes through the inbox (Inbox.receive, then the worker); feeding the
        # Dispatcher directly would handle it without the dedupe and lose it on a crash.
        raise RuntimeError("updates must be fed through the inbox (bot.telegram.Inbox)")
    return claim


async def on_message(
    message: Message, database: Database, claim: core.Claim | None = None, *, edited: bool = False
) -> None:
    if message.chat.type != "private":
        return
    held = _need(claim)
    incoming = _incoming_from_message(message, edited=edited)
    replies = await core.handle(database, incoming, inbound_claim=held)
    if replies is None:
        return
    if incoming.text and parsing.contains_registration_number(incoming.text):
        # Take it out of the chat too; the core kept nothing of it.
        held.actions.append({"op": "delete", "chat_id": str(message.chat.id), "message_id": message.message_id})
    held.actions.extend(reply_action(message.chat.id, r) for r in replies)


async def on_edited_message(message: Message, database: Database, claim: core.Claim | None = None) -> None:
    await on_message(message, database, claim, edited=True)


async def on_callback(query: CallbackQuery, database: Database, claim: core.Claim | None = None) -> None:
    held = _need(claim)

    def answer_now() -> None:
        # Stops the button's spinner at once, without holding the transaction open for it.
        _background(quietly(query.answer()))

    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    incoming = Incoming(
        channel=CHANNEL,
        user_key=str(chat_id),
        kind="callback",
        data=query.data,
        language=_language(query),
        display_name=query.from_user.full_name,
    )
    replies = await core.handle(database, incoming, inbound_claim=held, on_accepted=answer_now)
    if replies is None:
        return
    data = query.data or ""
    if isinstance(query.message, Message) and (data.startswith("n") or data.startswith("g:")):
        # The question is answered: take its buttons away so they cannot be pressed again.
        held.actions.append({"op": "unbutton", "chat_id": str(chat_id), "message_id": query.message.message_id})
    held.actions.extend(reply_action(chat_id, r) for r in replies)


async def on_my_chat_member(event: ChatMemberUpdated, claim: core.Claim | None = None) -> None:
    if event.chat.type != "private":
        return
    status = event.new_chat_member.status
    if status not in ("kicked", "member"):
        return
    held = _need(claim)
    if not await core.mark_handled(held):
        return
    await intake.set_reachable(held.session, channel=CHANNEL, user_key=str(event.chat.id), reachable=status == "member")
    log.info("telegram chat %s is %s", "blocked" if status == "kicked" else "open again", event.chat.id)


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _background(call: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(call)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _chat_of(update: Update) -> tuple[int | None, str | None]:
    if update.message is not None:
        return update.message.chat.id, _language(update.message)
    if update.edited_message is not None:
        return update.edited_message.chat.id, _language(update.edited_message)
    if update.callback_query is not None:
        query = update.callback_query
        return (query.message.chat.id if query.message else query.from_user.id), _language(query)
    return None, None


async def on_error(event: ErrorEvent, bot: Bot, claim: core.Claim | None = None) -> Any:
    """Turn an error into a kind message: AppError in its own words; anything else is retried by the inbox."""
    err = event.exception
    if is_harmless(err):
        return True
    chat_id, language = _chat_of(event.update)
    if isinstance(err, AppError):
        params = {k: gettext(v, language) if isinstance(v, str) else v for k, v in err.params.items()}
        text = gettext(err.msgid, language, **params)
        log.info("update %s: %s", event.update.update_id, type(err).__name__)
        if claim is not None:
            claim.error_text = text  # the worker rolls the work back and sends this instead
            return True
        if chat_id is not None:
            await quietly(bot.send_message(chat_id=chat_id, text=text))
        return True
    if claim is not None:
        # Not ours to swallow: the worker rolls back, retries with backoff, and after the last
        # attempt tells the desk and apologises to the person.
        return UNHANDLED
    text = gettext(MSG_APOLOGY, language)
    log.error("update %s failed: %s", event.update.update_id, type(err).__name__, exc_info=err)
    if chat_id is not None:
        await quietly(bot.send_message(chat_id=chat_id, text=text))
    return True


# ---------------------------------------------------------------- the inbox: receive, handle, answer

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 10
# An idle worker looks for work this often (rows another process stored, retries that fell due);
# rows this process stores wake it at once. SQLite is one process: it need not look as often.
IDLE_POLL_SECONDS = 0.25
IDLE_POLL_SECONDS_SQLITE = 1.0
ANSWERS_AT_ONCE = 8  # answers going out at the same time (each holds a connection on PostgreSQL)
HANDLERS_AT_MOST = 4  # handling loops per process on PostgreSQL (fewer when the pool is small)
STOP_GRACE_SECONDS = 5.0
# A registration number the person typed is never stored, not even as a stand-in number (the
# storage guard refuses any number of that shape in every text and JSON column, the inbox
# payload too): the stored update holds REDACTED instead and this mark on the message. When the
# worker reads the update back, the mark puts RRN_PLACEHOLDER into the Incoming in memory only,
# so the core still sees "a registration number" (refuses it before keeping anything, and the
# message is deleted from the chat). The key is ours; Telegram never sends it.
SCRUBBED_MARK = "dolbom_registration_number"
RRN_PLACEHOLDER = "000101-1000000"
_WAKERS: set[asyncio.Event] = set()
RECEIVER_LOCK_CLASS = 0x696E6278  # "inbx": PostgreSQL advisory lock (class, bot id) of the one poller


def _scrub(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the update with any text holding a registration number replaced (nothing of it is stored)."""
    for key in ("message", "edited_message"):
        message = payload.get(key)
        if not isinstance(message, dict):
            continue
        for field_name in ("text", "caption"):
            value = message.get(field_name)
            if isinstance(value, str) and parsing.contains_registration_number(value):
                message[field_name] = registration_numbers.REDACTED
                message[SCRUBBED_MARK] = True
                message.pop("entities", None)
                message.pop("caption_entities", None)
    return payload


def _row_of(payload: dict[str, Any]) -> dict[str, Any]:
    """Return what the inbox stores of one raw update: its id, the person's chat, its kind."""
    chat_id: Any = None
    kind = "other"
    for key in ("message", "edited_message", "my_chat_member"):
        if isinstance(payload.get(key), dict):
            kind = key
            chat_id = (payload[key].get("chat") or {}).get("id")
            break
    else:
        query = payload.get("callback_query")
        if isinstance(query, dict):
            kind = "callback_query"
            message = query.get("message") or {}
            chat_id = (message.get("chat") or {}).get("id") or (query.get("from") or {}).get("id")
    return {
        "update_id": int(payload["update_id"]),
        "chat_id": str(chat_id) if chat_id is not None else None,
        "kind": kind,
        "payload": _scrub(payload),
    }


def _summary(payload: dict[str, Any] | None) -> tuple[str | None, str | None, str | None]:
    """Return (display name, what the person sent, language) of a raw update, for the desk."""
    if not payload:
        return None, None, None
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        body = payload.get(key)
        if isinstance(body, dict):
            user = body.get("from") or {}
            name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or None
            sent = body.get("text") or body.get("data")
            if sent is None and body.get("contact"):
                sent = "(contact)"
            return name, sent, user.get("language_code")
    return None, None, None


class _Wake(asyncio.Event):
    """The inbox's wake-up call, counting each call: a handling loop looks only for news nobody looked at yet."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0

    def set(self) -> None:
        self.generation += 1
        super().set()


class _ResendLater(Exception):
    """An answer could not go out now (network, Telegram 5xx): try again later from where it stopped."""

    def __init__(self, sent: int, error: str) -> None:
        super().__init__(error)
        self.sent = sent
        self.error = error


class Inbox:
    """Stores updates before they are confirmed, handles them in per-chat order, answers each once.

    One per process and bot. `receive` is the receiver's half (polling loop or webhook); `run`
    is the worker: `handlers` loops each claim a row and handle it in one transaction (PostgreSQL:
    several, sharing the inbox with other processes; SQLite: one), and the answers go out after
    the commit. On start, rows handled but never answered (the process died between the commit
    and the send) are answered first, then pending rows are handled as usual.
    """

    def __init__(self, *, database: Database, bot: Bot, dp: Dispatcher, handlers: int | None = None) -> None:
        self.database = database
        self.bot = bot
        self.dp = dp
        self.bot_id = bot.id
        # Sized from the connection pool (settings): the loops and the answers together never ask
        # for more connections than the pool holds, less one for the receiver. Beyond that they
        # wait here (back-pressure) while the updates wait in the inbound table, not in memory.
        connections = database.connections
        self.handlers = handlers or (1 if database.is_sqlite else max(1, min(HANDLERS_AT_MOST, connections // 3)))
        self.wake = _Wake()
        self._looked = 0  # the wake-up call the last look for due rows began after
        self._handling = 0  # loops inside handle_next now (a row they claimed is invisible to the others)
        self._answering: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._answer_slots = asyncio.Semaphore(max(1, min(ANSWERS_AT_ONCE, connections - self.handlers - 1)))
        self._db_slots = asyncio.Semaphore(max(1, connections - 1))
        self._answered = GroupCommit(database, _mark_answered_many)
        # PostgreSQL: the answers of the moment go out in one transaction that holds their rows
        # locked while they are sent (another process's sweep skips them) and marks them
        # answered together; one transaction per answer cost five round trips each.
        self._answer_together = GroupCommit(
            database, self._answer_batch, slots=self._db_slots, batch=4 * ANSWERS_AT_ONCE
        )
        self._idle = IDLE_POLL_SECONDS_SQLITE if database.is_sqlite else IDLE_POLL_SECONDS
        self.polled = asyncio.Event()  # the receiver's first poll is over (stored, or another process polls)
        self.caught_up = asyncio.Event()  # polled, and nothing was due or being answered since

    # ------------------------------------------------------------ receiving

    async def receive(self, updates: list[dict[str, Any]]) -> int:
        """Store raw updates in one short transaction (before they are confirmed); return how many were new."""
        rows = [_row_of(dict(u)) for u in updates]
        async with self.database.transaction() as session:
            new = await inbound.receive(session, bot_id=self.bot_id, updates=rows)
        for waker in (self.wake, *_WAKERS):
            waker.set()
        return new

    # ------------------------------------------------------------ handling

    async def handle_next(self) -> int | None:
        """Claim one due row and handle it in one transaction; return its id (None: nothing due).

        A conversation changed meanwhile by someone else rolls the whole transaction back and the
        same row is handled again at once (no savepoint per update); after the second conflict
        the person gets MSG_BUSY (core.handle).
        """
        row_id: int | None = None
        claim: core.Claim | None = None
        ready: inbound.Inbound | None = None
        conflicts = 0
        accepted = False
        while True:
            try:
                async with self._db_slots, self.database.transaction() as session:
                    if row_id is None:
                        row = await inbound.claim_next(session, bot_id=self.bot_id)
                    else:
                        row = await inbound.claim_row(session, row_id=row_id)
                    if row is None:
                        return row_id
                    if row_id is None:
                        self.wake.set()  # there may be more: one more loop looks while this one works
                    row_id = row.id
                    assert row_id is not None
                    claim = core.Claim(session=session, row_id=row_id, conflicts=conflicts, accepted=accepted)
                    update = Update.model_validate(row.payload or {}, context={"bot": self.bot})
                    await self.dp.feed_update(self.bot, update, claim=claim)
                    if claim.error_text is not None:
                        raise _Refused(claim.error_text)
                    if claim.handled:
                        await inbound.set_answer(session, row_id=row_id, answer=claim.actions)
                        if claim.actions and self.database.is_sqlite:
                            # What was just stored, as the answering step would read it back.
                            ready = inbound.Inbound(
                                id=row_id,
                                bot_id=row.bot_id,
                                update_id=row.update_id,
                                chat_id=row.chat_id,
                                answer=claim.actions,
                                sent=0,
                                attempts=row.attempts,
                            )
                    else:
                        await inbound.ignore(session, row_id=row_id)
                break
            except core.Conflicted:
                # Rolled back, the row is pending again: apply it once more on a fresh read.
                conflicts += 1
                accepted = bool(claim and claim.accepted)
                continue
            except _Refused as refused:
                await self._answer_refusal(row_id, refused.text)
                break
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if row_id is None:
                    raise
                await self._failed(row_id, err)
                return row_id
        if row_id is not None and claim is not None and (claim.handled or claim.error_text is not None):
            self._spawn(self.answer(row_id, ready=ready))
        return row_id

    async def _answer_refusal(self, row_id: int | None, text: str) -> None:
        assert row_id is not None
        async with self._db_slots, self.database.transaction() as session:
            row = await session.get(inbound.Inbound, row_id)
            if row is None or not await inbound.mark_handled(session, row_id=row_id):
                return
            action = reply_action(row.chat_id or "", Reply(text=text)) if row.chat_id else None
            await inbound.set_answer(session, row_id=row_id, answer=[action] if action else [])

    async def _failed(self, row_id: int, err: BaseException) -> None:
        """Count the failure; at the limit tell the desk and the person. Never drop the row silently."""
        log.error("inbox row %s failed: %s", row_id, type(err).__name__, exc_info=err)
        try:
            async with self._db_slots, self.database.transaction() as session:
                row = await inbound.record_failure(session, row_id=row_id, error=type(err).__name__)
                if row is None or row.status != inbound.DEAD:
                    return
                name, sent, language = _summary(row.payload)
                await dead_letters.report(
                    session,
                    channel=CHANNEL,
                    chat_id=row.chat_id,
                    display_name=name,
                    text=sent,
                    language=language,
                    error=type(err).__name__,
                    ref=f"inbound:{row_id}",
                )
                await inbound.forget_payload(session, row_id=row_id)
            log.error("inbox row %s is a dead letter after %s attempts; the desk is told", row_id, row.attempts)
        except Exception as again:  # the database itself is failing: the row stays pending
            log.error("could not record the failure of inbox row %s: %s", row_id, type(again).__name__)

    # ------------------------------------------------------------ answering

    def _spawn(self, call: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(call)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, row_id: int, *, ready: inbound.Inbound | None = None) -> bool:
        """Send a handled row's answer and mark it answered; return False when it was not this worker's to send.

        ready: the row as its handling transaction just stored it (SQLite: this process is the only
        one answering, so it need not be read back).
        """
        if row_id in self._answering:
            return False
        self._answering.add(row_id)
        try:
            if not self.database.is_sqlite:
                return await self._answer_together(row_id)
            async with self._answer_slots, self._db_slots:
                return await self._answer(row_id, ready=ready)
        except PoolTimeout:
            # No connection free now: the row stays handled and the sweep answers it shortly.
            log.warning("inbox row %s: no database connection free; answering it shortly", row_id)
            return False
        except Exception as err:
            log.error("answering inbox row %s failed: %s", row_id, type(err).__name__, exc_info=err)
            return False
        finally:
            self._answering.discard(row_id)
            self.wake.set()

    async def _answer(self, row_id: int, *, ready: inbound.Inbound | None = None) -> bool:
        if self.database.is_sqlite:
            # One process: nobody else answers; read without holding SQLite's write lock.
            row = ready
            if row is None:
                async with self.database.sessions() as session:
                    row = await inbound.take_for_answer(session, row_id=row_id)
                    session.expunge_all()
            if row is None:
                return False
            outcome = await self._perform(row)
            if outcome == ("answered", len(row.answer or []), None):
                # The common case goes in one transaction with the other answers of the moment:
                # SQLite has one write lock, and a row per transaction kept writers queueing.
                await self._answered(row_id)
                return True
            async with self.database.transaction() as session:
                await self._record(session, row, outcome)
            return True
        # PostgreSQL: the row stays locked while its answer goes out, so a worker of another
        # process looking for unanswered rows skips it; if this process dies, the lock goes.
        async with self.database.sessions() as session, session.begin():
            row = await inbound.take_for_answer(session, row_id=row_id)
            if row is None:
                return False
            outcome = await self._perform(row)
            await self._record(session, row, outcome)
        return True

    async def _answer_batch(self, session: AsyncSession, row_ids: list[int]) -> set[int]:
        """PostgreSQL: send the answers of these rows (those free now) at once, rows locked; return the ids answered."""
        rows = await inbound.take_many_for_answer(session, row_ids=row_ids)

        async def perform(row: inbound.Inbound) -> tuple[str, int, str | None]:
            async with self._answer_slots:  # no more sends at once than before
                return await self._perform(row)

        outcomes = await asyncio.gather(*(perform(row) for row in rows), return_exceptions=True)
        answered: list[int] = []
        taken: set[int] = set()
        for row, outcome in zip(rows, outcomes, strict=True):
            assert row.id is not None
            if isinstance(outcome, BaseException):
                # As a failed answer of its own: the row stays handled and the sweep tries it again.
                log.error("answering inbox row %s failed: %s", row.id, type(outcome).__name__, exc_info=outcome)
                continue
            taken.add(row.id)
            if outcome == ("answered", len(row.answer or []), None):
                answered.append(row.id)
            else:
                await self._record(session, row, outcome)
        await inbound.mark_answered_many(session, row_ids=answered)
        return taken

    async def _perform(self, row: inbound.Inbound) -> tuple[str, int, str | None]:
        """Carry out the stored actions from where they stopped; return (outcome, done, error)."""
        actions = list(row.answer or [])
        done = row.sent
        for action in actions[row.sent :]:
            try:
                await self._do(action)
            except TelegramForbiddenError:
                return "blocked", done, "403"
            except (TimeoutError, TelegramNetworkError, TelegramServerError, OSError) as err:
                return "later", done, type(err).__name__
            except TelegramBadRequest as err:
                # Telegram refuses this one message for good (it would refuse it again): go on.
                log.error("inbox row %s: Telegram refused an answer: %s", row.id, type(err).__name__)
            done += 1
        return "answered", done, None

    async def _do(self, action: dict[str, Any]) -> None:
        op = action.get("op")
        chat = str(action["chat_id"])
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        for attempt in range(3):
            try:
                if op == "send":
                    reply = _reply_of(action)
                    await _send(self.bot, chat_id, reply)
                elif op == "delete":
                    await quietly(self.bot.delete_message(chat_id=chat_id, message_id=action["message_id"]))
                elif op == "unbutton":
                    await quietly(
                        self.bot.edit_message_reply_markup(
                            chat_id=chat_id, message_id=action["message_id"], reply_markup=None
                        )
                    )
                return
            except TelegramRetryAfter as err:
                if attempt == 2:
                    raise TelegramServerError(method=err.method, message=str(err)) from err
                await asyncio.sleep(min(float(err.retry_after), 30.0))

    async def _record(self, session: AsyncSession, row: inbound.Inbound, outcome: tuple[str, int, str | None]) -> None:
        kind, done, error = outcome
        assert row.id is not None
        if kind == "later":
            await inbound.answer_later(
                session,
                row_id=row.id,
                sent=done,
                not_before=clock.now() + inbound.backoff(row.attempts + 1),
                error=error or "",
            )
            return
        if kind == "blocked" and row.chat_id:
            await intake.set_reachable(session, channel=CHANNEL, user_key=row.chat_id, reachable=False)
        await inbound.mark_answered(session, row_id=row.id, error=error)

    async def recover(self, *, everything: bool) -> int:
        """Answer handled rows whose answer never went out (everything: all, at start on SQLite); return how many."""
        async with self._db_slots, self.database.sessions() as session:
            ids = await inbound.list_unanswered(session, bot_id=self.bot_id, due_only=not everything)
        answered = 0
        for row_id in ids:
            answered += await self.answer(row_id)
        return answered

    async def drain(self) -> int:
        """Handle and answer everything that is due now (tests, and a clean stop); return rows handled."""
        count = 0
        while True:
            if await self.handle_next() is not None:
                count += 1
                continue
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            return count

    async def run(self, stop: asyncio.Event) -> None:
        """Work until stop is set: answer what a previous run left, then handle rows as they come."""
        try:
            await self.recover(everything=self.database.is_sqlite)
        except Exception as err:
            log.error("could not answer what the last run left: %s", type(err).__name__)
        _WAKERS.add(self.wake)
        loops = [asyncio.create_task(self._handle_loop(stop)) for _ in range(self.handlers)]
        loops.append(asyncio.create_task(self._sweep_loop(stop)))
        try:
            await stop.wait()
        finally:
            self.wake.set()
            _, late = await asyncio.wait(loops, timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_SECONDS)
            _WAKERS.discard(self.wake)

    async def _handle_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._looked = looked = self.wake.generation
            self._handling += 1
            try:
                handled = await self.handle_next()
            except asyncio.CancelledError:
                raise
            except PoolTimeout:  # every connection is in use (back-pressure): the rows wait in the inbox
                log.warning("inbox worker: no database connection free; updates wait in the inbox")
                handled = None
                await _sleep_unless(stop, 0.1)
                continue
            except Exception as err:  # the database is away: the rows wait in it
                log.error("inbox worker: %s", type(err).__name__)
                handled = None
                await _sleep_unless(stop, 1.0)
            finally:
                self._handling -= 1
            if handled is None:
                # Caught up only when nothing is in flight anywhere: with several loops
                # (PostgreSQL) another one may be handling the row this one could not see (locked),
                # and a row stored or claimed while this one looked was not seen either. `serve`
                # loads the web and jobs roles once this is set; before the last answer they would
                # take the interpreter from it.
                quiet = self.wake.generation == looked and not self._handling
                if quiet and self.polled.is_set() and not self._tasks:
                    self.caught_up.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._news(), self._idle)

    async def _news(self) -> None:
        # One wake-up call (rows stored, an answer out, a row claimed) sends one idle loop to
        # look, not all of them: the others would find nothing, each costing a transaction.
        # Every loop still looks after the idle interval (rows another process stored, retries).
        while self.wake.generation <= self._looked:
            self.wake.clear()
            await self.wake.wait()

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        # Answers whose first try failed (network) and, on PostgreSQL, those a dead process left.
        while not stop.is_set():
            await _sleep_unless(stop, 1.0)
            try:
                await self.recover(everything=False)
            except PoolTimeout:  # every connection is in use (back-pressure): the next round looks again
                log.warning("inbox sweep: no database connection free; it looks again in a second")
            except Exception as err:
                log.error("inbox sweep: %s", type(err).__name__)


async def _mark_answered_many(session: AsyncSession, ids: list[int]) -> None:
    await inbound.mark_answered_many(session, row_ids=ids)


class _Refused(Exception):
    def __init__(self, text: str) -> None:
        super().__init__("refused")
        self.text = text


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


# ---------------------------------------------------------------- polling


COMMANDS = [("start", N_("Start over")), ("cancel", N_("Cancel what you are doing"))]


class _ReceiverLock:
    """PostgreSQL: one poller per bot among all processes (Telegram answers 409 to a second getUpdates)."""

    def __init__(self, database: Database, bot_id: int) -> None:
        self.database = database
        self.key = (RECEIVER_LOCK_CLASS, bot_id % 2**31)
        self._conn: Any = None

    async def acquire(self) -> bool:
        if self.database.is_sqlite:
            return True
        from sqlalchemy import text

        if self._conn is None:
            self._conn = await self.database.engine.connect()
        got = (
            await self._conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": self.key[0], "b": self.key[1]})
        ).scalar()
        await self._conn.commit()
        return bool(got)

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # the session ends: the lock goes with it
            self._conn = None


class _BotApiRefused(Exception):
    """The Bot API answered a raw call with ok: false (409: another getUpdates; 401: a wrong token)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code} {description}")
        self.code = code


async def _call_raw(bot: Bot, method: str, params: dict[str, Any], *, seconds: float) -> Any:
    """Call a Bot API method over the bot's own HTTP session and return its raw JSON result.

    The receiver stores what Telegram sent as it was sent: parsing each update into aiogram's
    models only to dump it back would cost the first answer after a restart the build of the
    whole Update model tree twice (validator and serializer); the worker parses it once.
    """
    import aiohttp

    assert isinstance(bot.session, AiohttpSession)  # make_bot's
    session = await bot.session.create_session()
    url = bot.session.api.api_url(token=bot.token, method=method)
    async with session.post(url, json=params, timeout=aiohttp.ClientTimeout(total=seconds)) as response:
        body = await response.json(content_type=None)
    if not isinstance(body, dict) or not body.get("ok"):
        body = body if isinstance(body, dict) else {}
        raise _BotApiRefused(int(body.get("error_code") or response.status), str(body.get("description") or ""))
    return body.get("result")


async def _poll(bot: Bot, inbox: Inbox, stop: asyncio.Event) -> None:
    """Long-poll getUpdates; store each batch, and only then confirm it (the next offset)."""
    lock = _ReceiverLock(inbox.database, inbox.bot_id)
    offset: int | None = None
    failures = 0
    try:
        while not stop.is_set():
            if not await lock.acquire():
                inbox.polled.set()
                inbox.wake.set()
                await _sleep_unless(stop, 5.0)  # another process polls; this one only works
                continue
            params: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES}
            if offset is not None:
                params["offset"] = offset
            getter = asyncio.ensure_future(_call_raw(bot, "getUpdates", params, seconds=POLL_TIMEOUT + 10))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                # What this call would have returned is not confirmed: Telegram sends it again.
                getter.cancel()
                await asyncio.gather(getter, return_exceptions=True)
                break
            try:
                updates = [u for u in getter.result() or [] if isinstance(u, dict) and "update_id" in u]
                if updates:
                    await inbox.receive(updates)
                    offset = max(int(u["update_id"]) for u in updates) + 1
                failures = 0
                if not inbox.polled.is_set():
                    inbox.polled.set()
                    inbox.wake.set()
            except _BotApiRefused as err:
                if err.code == 401:
                    raise RuntimeError("the Bot API refused DOLBOM_TELEGRAM_TOKEN (401)") from err
                failures += 1
                log.warning("getUpdates was refused (%s); trying again", err.code)
                await _sleep_unless(stop, min(2.0 ** min(failures, 5), 30.0))
            except (TimeoutError, TelegramAPIError, OSError, ValueError, SQLAlchemyError) as err:
                failures += 1
                log.warning("getUpdates or storing its updates failed (%s); trying again", type(err).__name__)
                await _sleep_unless(stop, min(2.0 ** min(failures, 5), 30.0))
    finally:
        await lock.release()


async def run_polling(
    *, database: Database, settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Poll the Bot API and work the inbox until stop is set; what was received and not answered stays stored.

    ready (if given) is set once the first poll is stored and everything due then is answered:
    `dolbom serve` loads its other roles only after that, so after a crash the people who wrote
    meanwhile are answered first.
    """
    bot = make_bot(settings)
    dp = make_dispatcher(database)
    inbox = Inbox(database=database, bot=bot, dp=dp)
    if ready is not None:
        inbox.caught_up = ready
    worker = asyncio.create_task(inbox.run(stop))
    with contextlib.suppress(_BotApiRefused, OSError, ValueError, asyncio.TimeoutError):
        await _call_raw(bot, "deleteWebhook", {"drop_pending_updates": False}, seconds=10)
    _background(_set_commands(bot, after=inbox.caught_up))
    poller = asyncio.create_task(_poll(bot, inbox, stop))
    try:
        done, _ = await asyncio.wait({worker, poller}, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        await asyncio.gather(worker, poller, return_exceptions=True)
        await bot.session.close()


async def run_worker(*, database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Work the inbox the webhook fills until stop is set (webhook mode's bot role)."""
    bot = make_bot(settings)
    inbox = Inbox(database=database, bot=bot, dp=make_dispatcher(database))
    try:
        await inbox.run(stop)
    finally:
        await bot.session.close()


async def _set_commands(bot: Bot, *, after: asyncio.Event | None = None) -> None:
    if after is not None:
        await after.wait()  # not before the people who wrote while the bot was down are answered
    with contextlib.suppress(TelegramAPIError, OSError, asyncio.TimeoutError):
        await bot.set_my_commands([BotCommand(command=c, description=gettext(d, "ko")) for c, d in COMMANDS])
