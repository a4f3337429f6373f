"""Check-in answers: the 잘 지내요 / 도움이 필요해요 buttons ("ci:<slot id>:ok|help")."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import register
from bot.messages import Incoming, Reply
from care import checkins
from dolbom.errors import AppError
from dolbom.i18n import N_, gettext


@register("ci")
async def on_answer(session: AsyncSession, incoming: Incoming, payload: str) -> list[Reply]:
    """Record the answer and thank the person (or tell them the desk will call)."""
    slot_id, _, answer = payload.partition(":")
    if not slot_id.isdigit() or answer not in checkins.ANSWERS:
        return [Reply(gettext(N_("That button is no longer valid."), incoming.language))]
    try:
        slot = await checkins.answer(
            session, slot_id=int(slot_id), answer=answer, channel=incoming.channel, user_key=incoming.user_key
        )
    except AppError:
        return [Reply(gettext(N_("That button is no longer valid."), incoming.language))]
    text = checkins.THANKS_HELP if slot.answer == "help" else checkins.THANKS_OK
    return [Reply(gettext(text, incoming.language))]
