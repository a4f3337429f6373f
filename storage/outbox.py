"""The outbox: messages the system sends on its own, written in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dolbom import clock
from storage.models import Outbox


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    text: str,
    buttons: list[Any] | None = None,
    kind: str = "notice",
    ref: str | None = None,
    not_before: datetime | None = None,
) -> Outbox:
    """Add a message to the outbox in the current transaction and return the row."""
    row = Outbox(
        channel=channel,
        chat_id=chat_id,
        text=text,
        buttons=buttons,
        kind=kind,
        ref=ref,
        not_before=not_before or clock.now(),
    )
    session.add(row)
    await session.flush()
    return row
