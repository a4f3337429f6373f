"""The web chat: the same flows in the browser (channel "webchat"), a tool of the desk.

Operators only: dolbom/runner.py mounts this router with the console's `require_operator`
(which also checks the X-CSRF-Token header on every POST), and every route here also needs the
role operator or admin (a viewer changes nothing, and a request is a change). The person typing is
the signed-in operator (user key "op<id>"), working in their own district: a request made here is
recorded as taken by that operator (history actor, source "desk_chat", access log), and never binds
the operator's chat to the resident. What the system sends on its own (the receipt) waits in the
outbox until the page polls for it, and counts as sent only when the page's next poll says it has
shown it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from bot import core
from bot.messages import DeskOperator, Incoming, Reply
from care.intake import MAX_TEXT
from dolbom.i18n import N_, gettext
from storage import conversations
from storage.db import Database

CHANNEL = "webchat"
HERE = Path(__file__).resolve().parent
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
STATIC = {"chat.js": "text/javascript; charset=utf-8", "chat.css": "text/css; charset=utf-8"}
PAGE_TEXTS = {
    "web_chat": N_("Web chat"),
    "care_desk": N_("Care desk"),
    "back": N_("Back to the console"),
    "note": N_("This page runs the same conversation as the Telegram bot. Requests made here are real requests."),
    "message": N_("Message"),
    "type_here": N_("Type here"),
    "send": N_("Send"),
}


class Typed(BaseModel):
    # A little over the limit, so the core can refuse a long message kindly instead of a 422.
    text: str = Field(max_length=MAX_TEXT * 4)


class Pressed(BaseModel):
    data: str = Field(max_length=200)


class Shown(BaseModel):
    # Strict: JSON false or "3" is not a message id (a bool would otherwise pass as 0).
    after: int | None = Field(default=None, ge=0, strict=True, description="id of the last message the page has shown")


DESK_ROLES = ("admin", "operator")


async def desk_operator(request: Request) -> DeskOperator:
    """Return the signed-in operator as the web chat's person (set by the console's guard); 403 for viewers."""
    operator = getattr(request.state, "operator", None)
    if operator is None or getattr(operator, "id", None) is None:
        raise HTTPException(status_code=401)
    if operator.role not in DESK_ROLES:
        raise HTTPException(status_code=403)
    return DeskOperator(
        operator_id=operator.id,
        username=operator.username,
        name=operator.display_name or operator.username,
        role=operator.role,
        district_id=operator.district_id,
        ip=request.client.host if request.client else None,
    )


def user_key(desk: DeskOperator) -> str:
    """Return the web chat's user key of a desk operator."""
    return f"op{desk.operator_id}"


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "buttons": reply.buttons_json() or [], "contact": bool(reply.contact_button)}


def router(*, database: Database) -> APIRouter:
    """Return the web chat's routes (operators only)."""
    core.load_flows()
    r = APIRouter()
    r.operators_only = True  # type: ignore[attr-defined]  # read by dolbom/runner.py

    async def run(incoming: Incoming) -> JSONResponse:
        replies = await core.handle(database, incoming) or []
        return JSONResponse({"replies": [_reply_json(x) for x in replies]})

    @r.get("/chat", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request, desk: DeskOperator = Depends(desk_operator)) -> HTMLResponse:
        texts = SimpleNamespace(**{k: gettext(v) for k, v in PAGE_TEXTS.items()})
        html = _env.get_template("chat.html").render(csrf_token=getattr(request.state, "csrf_token", ""), t=texts)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @r.get("/chat/static/{name}", include_in_schema=False)
    async def chat_static(name: str, desk: DeskOperator = Depends(desk_operator)) -> Response:
        if name not in STATIC:
            raise HTTPException(status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])

    @r.post("/chat/api/start")
    async def start(desk: DeskOperator = Depends(desk_operator)) -> JSONResponse:
        return await run(
            Incoming(channel=CHANNEL, user_key=user_key(desk), kind="command", text="/start", language="ko", desk=desk)
        )

    @r.post("/chat/api/send")
    async def send(body: Typed, desk: DeskOperator = Depends(desk_operator)) -> JSONResponse:
        text = body.text
        kind = "command" if text.startswith("/") else "text"
        return await run(Incoming(channel=CHANNEL, user_key=user_key(desk), kind=kind, text=text, desk=desk))  # type: ignore[arg-type]

    @r.post("/chat/api/press")
    async def press(body: Pressed, desk: DeskOperator = Depends(desk_operator)) -> JSONResponse:
        return await run(Incoming(channel=CHANNEL, user_key=user_key(desk), kind="callback", data=body.data, desk=desk))

    async def offer(key: str, after: int | None) -> JSONResponse:
        async with database.transaction() as session:
            rows = await conversations.take_outbox(session, channel=CHANNEL, chat_id=key, after=after)
        return JSONResponse(
            {
                "messages": [
                    {"id": row.id, "text": row.text, "buttons": row.buttons or [], "contact": False} for row in rows
                ]
            }
        )

    @r.get("/chat/api/messages")
    async def messages(desk: DeskOperator = Depends(desk_operator)) -> JSONResponse:
        # Looking acknowledges nothing: a message is delivered when the page says it showed it.
        return await offer(user_key(desk), None)

    @r.post("/chat/api/messages")
    async def acknowledge(body: Shown, desk: DeskOperator = Depends(desk_operator)) -> JSONResponse:
        # The page's poll: everything up to `after` was shown (sent); what is newer comes back.
        return await offer(user_key(desk), body.after)

    return r
