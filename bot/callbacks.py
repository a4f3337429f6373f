"""Buttons that act outside a conversation flow, routed by the prefix of their data.

A check-in answer ("ci:<slot id>:ok"), a survey score ("sv:<survey id>:5") or a
provider's accept/decline ("as:<assignment id>:accept") can be pressed long after
the message was sent, whatever flow the person is in. Modules register a handler
for their prefix; the conversation core calls `find` before it runs a flow step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Incoming, Reply

Handler = Callable[[AsyncSession, Incoming, str], Awaitable[list[Reply]]]
_handlers: dict[str, Handler] = {}


def register(prefix: str) -> Callable[[Handler], Handler]:
    """Register a handler for callback data "<prefix>:<payload>"."""

    def decorate(handler: Handler) -> Handler:
        if prefix in _handlers and _handlers[prefix] is not handler:
            raise ValueError(f"callback prefix {prefix!r} is taken")
        _handlers[prefix] = handler
        return handler

    return decorate


def find(data: str | None) -> tuple[Handler, str] | None:
    """Return the handler and payload for callback data, or None when no prefix matches."""
    if not data or ":" not in data:
        return None
    prefix, payload = data.split(":", 1)
    handler = _handlers.get(prefix)
    return (handler, payload) if handler else None
