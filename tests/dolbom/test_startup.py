"""dolbom.startup: aiogram imported with its validators deferred behaves as aiogram imported eagerly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER = {"id": 5, "is_bot": False, "first_name": "영희", "language_code": "ko"}
CHAT = {"id": 5, "type": "private"}
UPDATES = [
    {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": CHAT, "from": USER, "text": "/start"}},
    {
        "update_id": 2,
        "message": {
            "message_id": 2,
            "date": 1,
            "chat": CHAT,
            "from": USER,
            "contact": {"phone_number": "821012345678", "first_name": "영희", "user_id": 5},
        },
    },
    {
        "update_id": 3,
        "callback_query": {
            "id": "9",
            "from": USER,
            "chat_instance": "ci",
            "data": "n3:meals",
            "message": {"message_id": 1, "date": 1, "chat": CHAT, "text": "무엇을 도와 드릴까요?"},
        },
    },
    {"update_id": 4, "edited_message": {"message_id": 1, "date": 1, "edit_date": 2, "chat": CHAT, "text": "김영희"}},
    {
        "update_id": 5,
        "my_chat_member": {
            "chat": CHAT,
            "from": USER,
            "date": 1,
            "old_chat_member": {"status": "member", "user": USER},
            "new_chat_member": {"status": "kicked", "user": USER, "until_date": 0},
        },
    },
]

PROGRAM = """
import json, sys
from dolbom import startup
deferred = startup.defer_aiogram_validators()
from aiogram.methods import (AnswerCallbackQuery, DeleteMessage, EditMessageReplyMarkup, SendMessage,
                             SetMyCommands)
from aiogram.methods.base import Response
from aiogram.types import (BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, Message,
                           ReplyKeyboardMarkup, Update)
built_at_import = SendMessage.__pydantic_complete__
updates = json.loads(sys.stdin.read())
out = [Update.model_validate(u).model_dump(mode="json", exclude_none=True) for u in updates]
inline = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="네", callback_data="n1:yes")]])
keys = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="전화번호 보내기", request_contact=True)]])
for markup in (inline, keys):
    method = SendMessage(chat_id=5, text="안녕하세요", reply_markup=markup)
    out.append(method.model_dump(exclude_none=True, warnings=False))
for method in (
    DeleteMessage(chat_id=5, message_id=3),
    EditMessageReplyMarkup(chat_id=5, message_id=3, reply_markup=None),
    AnswerCallbackQuery(callback_query_id="9"),
    SetMyCommands(commands=[BotCommand(command="start", description="처음으로")]),
):
    out.append([method.__api_method__, method.model_dump(exclude_none=True, warnings=False)])
sent = {"ok": True, "result": {"message_id": 7, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "안녕하세요"}}
out.append(Response[Message].model_validate(sent).model_dump(mode="json", exclude_none=True))
try:
    SendMessage(chat_id=5)
except Exception as err:
    out.append(type(err).__name__)
print(json.dumps({"deferred": deferred, "built_at_import": built_at_import, "out": out}, default=repr))
"""


def _run(program: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps(UPDATES),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_deferred_aiogram_reads_updates_and_writes_replies_as_eager_aiogram_does() -> None:
    deferred = _run(PROGRAM)
    eager = _run(PROGRAM.replace("startup.defer_aiogram_validators()", "False"))
    assert deferred["deferred"] is True and eager["deferred"] is False
    # The Bot API methods too are built on first use, and then read and write as aiogram's own.
    assert deferred["built_at_import"] is False and eager["built_at_import"] is True
    assert deferred["out"] == eager["out"]
    assert deferred["out"][0]["message"]["text"] == "/start"
    assert deferred["out"][2]["callback_query"]["data"] == "n3:meals"
    assert deferred["out"][6]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert deferred["out"][-2]["result"]["text"] == "안녕하세요"
    assert deferred["out"][-1] == "ValidationError"  # a message without text is refused, as eagerly


def test_deferring_after_aiogram_was_imported_changes_nothing() -> None:
    program = "import aiogram\nfrom dolbom import startup\nprint(startup.defer_aiogram_validators())"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


SEND_PROGRAM = """
import json
from dolbom import startup
startup.defer_aiogram_validators()
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.types import Message
from bot import telegram
from bot.messages import Button, Reply
session = AiohttpSession()
bot = Bot(token="123:x", session=session)
reply = Reply(text="안녕하세요", buttons=[[Button(text="네", data="n1:yes")]])
method = telegram._Send.model_validate({"chat_id": 5, "text": reply.text, "reply_markup": telegram.markup(reply)})
sent = {"message_id": 7, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "안녕하세요"}
out = {
    "api": method.__api_method__,
    "request": method.model_dump(exclude_none=True, warnings=False),
    "result": session.check_response(bot, method, 200, json.dumps({"ok": True, "result": sent})).result,
    "message_built": Message.__pydantic_complete__,
    "refused": [],
}
for status, body in [
    (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}),
    (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
]:
    try:
        session.check_response(bot, method, status, json.dumps(body))
    except Exception as err:
        out["refused"].append([type(err).__name__, getattr(err, "retry_after", None)])
print(json.dumps(out, default=repr))
"""


def test_the_answers_go_out_as_before_without_parsing_the_message_telegram_sends_back() -> None:
    out = _run(SEND_PROGRAM)
    assert out["api"] == "sendMessage"
    assert out["request"]["text"] == "안녕하세요"
    assert out["request"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "n1:yes"
    assert out["result"]["message_id"] == 7
    # Telegram's copy of the message is kept as JSON: Message's validator is not built for it.
    assert out["message_built"] is False
    assert out["refused"] == [
        ["TelegramForbiddenError", None],
        ["TelegramRetryAfter", 3],
        ["TelegramBadRequest", None],
        ["TelegramServerError", None],
    ]
