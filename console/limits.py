"""Request guards as one ASGI middleware, so no route can bypass them.

- A body over the limit is a 413: at once when Content-Length says so, else as it streams in.
- Invalid UTF-8 in the query string or in a form body is a 400 (Starlette would quietly turn it
  into U+FFFD and store that). JSON bodies are checked by FastAPI's JSON reader (a 400 too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM = b"application/x-www-form-urlencoded"


class BodyTooLarge(HTTPException):
    """The request body is over the console's limit (answered 413 by console/app.py).

    An HTTPException, because FastAPI turns any other error met while reading a body into a 400.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413)


# (scope, status) -> the answer to send: console/app.py renders its Korean page or JSON error.
Refuse = Callable[[Scope, int], Awaitable[ASGIApp]]


def is_utf8(encoded: bytes) -> bool:
    """Return True when a percent-encoded query string or form body decodes as UTF-8."""
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RequestGuard:
    """Refuse bodies over `max_bytes` (413) and undecodable query strings and forms (400)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuse: Refuse) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not is_utf8(scope.get("query_string", b"")):
            await (await self.refuse(scope, 400))(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_big = False  # the server refuses a malformed length itself
        if too_big:
            await (await self.refuse(scope, 413))(scope, receive, send)
            return
        receive = _counting(receive, self.max_bytes)
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() == FORM:
            # A form is small (the limit holds it): read it whole, check it, hand it on unchanged.
            body = b""
            more = True
            while more:
                try:
                    message = await receive()
                except BodyTooLarge:
                    await (await self.refuse(scope, 413))(scope, receive, send)
                    return
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if not is_utf8(body):
                await (await self.refuse(scope, 400))(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _counting(receive: Receive, max_bytes: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise BodyTooLarge()
        return message

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as Starlette expects

    return wrapped
