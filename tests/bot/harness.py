"""Drive the real aiogram Dispatcher with offline updates; a fake session records the Bot API calls.

Updates take the production path: stored in the inbox (as the receiver does), then handled and
answered by the inbox worker, which feeds them to the Dispatcher.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Contact,
    InlineKeyboardMarkup,
    Location,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    Sticker,
    Update,
    User,
    Voice,
)

from bot import telegram
from storage.db import Database

TOKEN = "123456:TEST"
BOT_ID = 123456


class FakeSession(BaseSession):
    """Answers every Bot API call as Telegram would, without a network; records the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self._ids = itertools.count(1000)
        self.blocked = False  # answer sendMessage with 403, as Telegram does once the person blocked the bot

    async def close(self) -> None:
        return None

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        self.calls.append(method)
        if isinstance(method, SendMessage) and self.blocked:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user")
        if isinstance(method, SendMessage):
            markup = method.reply_markup if isinstance(method.reply_markup, InlineKeyboardMarkup) else None
            return Message(
                message_id=next(self._ids),
                date=datetime.now(UTC),
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=User(id=BOT_ID, is_bot=True, first_name="돌봄"),
                text=method.text,
                reply_markup=markup,
            )
        if isinstance(method, GetMe):
            return User(id=BOT_ID, is_bot=True, first_name="돌봄", username="dolbom_bot")
        if isinstance(method, (AnswerCallbackQuery, DeleteMessage, EditMessageReplyMarkup, EditMessageText)):
            return True
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:  # pragma: no cover
        yield b""


_update_ids = itertools.count(1)


class Person:
    """One Telegram user talking to the bot through a Dispatcher."""

    def __init__(self, database: Database, *, user_id: int = 5550001, language: str = "ko", name: str = "영희") -> None:
        self.database = database
        self.user_id = user_id
        self.language = language
        self.user = User(id=user_id, is_bot=False, first_name=name, language_code=language)
        self.chat = Chat(id=user_id, type="private")
        self.session = FakeSession()
        self.bot = Bot(token=TOKEN, session=self.session)
        self.dp: Dispatcher = telegram.make_dispatcher(database)
        self.inbox = telegram.Inbox(database=database, bot=self.bot, dp=self.dp)
        self._message_ids = itertools.count(1)
        self.transcript: list[str] = []

    def restart(self, database: Database) -> None:
        """A new process: a new Dispatcher, Bot and database engine; the same person."""
        self.database = database
        self.session = FakeSession()
        self.bot = Bot(token=TOKEN, session=self.session)
        self.dp = telegram.make_dispatcher(database)
        self.inbox = telegram.Inbox(database=database, bot=self.bot, dp=self.dp)

    # ------------------------------------------------------------ what the bot did

    def sent(self) -> list[SendMessage]:
        return [c for c in self.session.calls if isinstance(c, SendMessage)]

    def calls_of(self, kind: type) -> list[Any]:
        return [c for c in self.session.calls if isinstance(c, kind)]

    @property
    def last(self) -> SendMessage:
        return self.sent()[-1]

    def last_texts(self, n: int = 1) -> str:
        return "\n".join(m.text for m in self.sent()[-n:])

    def buttons(self) -> dict[str, str]:
        """Return text → callback data of the newest message with inline buttons."""
        for message in reversed(self.sent()):
            if isinstance(message.reply_markup, InlineKeyboardMarkup):
                return {b.text: b.callback_data or "" for row in message.reply_markup.inline_keyboard for b in row}
        return {}

    def keyboard(self) -> list[str]:
        """Return the texts of the newest reply keyboard (share-contact and plain keys)."""
        for message in reversed(self.sent()):
            if isinstance(message.reply_markup, ReplyKeyboardMarkup):
                return [k.text for row in message.reply_markup.keyboard for k in row]
        return []

    # ------------------------------------------------------------ what the person does

    @staticmethod
    def raw(update: Update) -> dict[str, Any]:
        """Return the update as Telegram sends it (JSON)."""
        return update.model_dump(mode="json", exclude_none=True, by_alias=True)

    async def deliver(self, *updates: Update) -> None:
        """Telegram hands the updates over: the receiver stores them (nothing handled yet)."""
        await self.inbox.receive([self.raw(u) for u in updates])

    async def feed(self, *updates: Update) -> None:
        """Deliver the updates, then let the inbox worker handle and answer everything due."""
        before = len(self.sent())
        await self.deliver(*updates)
        await self.inbox.drain()
        for message in self.sent()[before:]:
            self._record_bot(message)

    def _record_bot(self, message: SendMessage) -> None:
        self.transcript.append(f"봇: {message.text}")
        markup = message.reply_markup
        if isinstance(markup, InlineKeyboardMarkup):
            for row in markup.inline_keyboard:
                self.transcript.append("     " + "  ".join(f"[{b.text}]" for b in row))
        elif isinstance(markup, ReplyKeyboardMarkup):
            for row in markup.keyboard:
                self.transcript.append("     " + "  ".join(f"<{k.text}>" for k in row))

    def message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            **fields,
        )

    def update(self, **fields: Any) -> Update:
        return Update(update_id=next(_update_ids), **fields)

    async def say(self, text: str) -> Message:
        message = self.message(text=text)
        self.transcript.append(f"나: {text}")
        await self.feed(self.update(message=message))
        return message

    async def edit(self, message: Message, text: str) -> None:
        edited = message.model_copy(update={"text": text, "edit_date": int(datetime.now(UTC).timestamp())})
        self.transcript.append(f"나 (고침): {text}")
        await self.feed(self.update(edited_message=edited))

    async def share_contact(self, phone: str, *, owner_id: int | None = 0) -> None:
        """Share a contact: by default the person's own (Telegram puts their id in it); owner_id=another
        user's id (or None) sends a contact card of someone else, as a forwarded one is."""
        user_id = self.user_id if owner_id == 0 else owner_id
        contact = Contact(phone_number=phone, first_name=self.user.first_name, user_id=user_id)
        self.transcript.append(f"나: (연락처 공유) {phone}")
        await self.feed(self.update(message=self.message(contact=contact)))

    def callback_update(self, data: str, message_id: int = 1) -> Update:
        bot_message = Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=User(id=BOT_ID, is_bot=True, first_name="돌봄"),
            text="…",
        )
        query = CallbackQuery(
            id=f"q{next(_update_ids)}",
            from_user=self.user,
            chat_instance="ci",
            data=data,
            message=bot_message,
        )
        return self.update(callback_query=query)

    async def press(self, text: str) -> str:
        """Press the button with this text on the newest message that has buttons; return its data."""
        buttons = self.buttons()
        assert text in buttons, f"no button {text!r} in {list(buttons)}"
        self.transcript.append(f"나: [{text}]")
        await self.feed(self.callback_update(buttons[text]))
        return buttons[text]

    async def press_data(self, data: str) -> None:
        await self.feed(self.callback_update(data))

    async def junk(self, kind: str) -> None:
        fields: dict[str, Any] = {
            "sticker": {
                "sticker": Sticker(
                    file_id="s",
                    file_unique_id="s",
                    type="regular",
                    width=1,
                    height=1,
                    is_animated=False,
                    is_video=False,
                )
            },
            "photo": {"photo": [PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)]},
            "voice": {"voice": Voice(file_id="v", file_unique_id="v", duration=1)},
            "location": {"location": Location(latitude=37.55, longitude=126.9)},
        }[kind]
        self.transcript.append(f"나: ({kind})")
        await self.feed(self.update(message=self.message(**fields)))

    async def block(self, kicked: bool = True) -> None:
        bot_user = User(id=BOT_ID, is_bot=True, first_name="돌봄")
        old = ChatMemberMember(user=bot_user) if kicked else ChatMemberBanned(user=bot_user, until_date=0)
        new = ChatMemberBanned(user=bot_user, until_date=0) if kicked else ChatMemberMember(user=bot_user)
        event = ChatMemberUpdated(
            chat=self.chat, from_user=self.user, date=datetime.now(UTC), old_chat_member=old, new_chat_member=new
        )
        await self.feed(self.update(my_chat_member=event))
