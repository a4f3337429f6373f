"""Care managers and provider staff joining the bot, for the flow tests."""

from __future__ import annotations

from sqlalchemy import select

from care import invites
from storage.db import Database
from storage.models import CareManager, InviteCode, Outbox, Provider
from tests.bot.harness import Person
from tests.factories import Place, make_care_manager, make_provider

CM_USER = 7001
STAFF_USER = 7101
OTHER_STAFF_USER = 7201


async def invite_code(db: Database, *, care_manager_id: int | None = None, provider_id: int | None = None) -> str:
    async with db.transaction() as s:
        role = "care_manager" if care_manager_id else "provider_staff"
        invite: InviteCode = await invites.create(
            s, role=role, care_manager_id=care_manager_id, provider_id=provider_id, created_by=None
        )
        return invite.code


async def joined_care_manager(db: Database, place: Place, *, dong_index: int = 0) -> tuple[Person, CareManager]:
    async with db.transaction() as s:
        manager = await make_care_manager(s, place, dong_index=dong_index)
    person = Person(db, user_id=CM_USER, name="민정")
    await person.say(f"/start {await invite_code(db, care_manager_id=manager.id)}")
    return person, manager


async def joined_staff(
    db: Database, place: Place, *, user_id: int = STAFF_USER, name: str = "마포밥상협동조합"
) -> tuple[Person, Provider]:
    async with db.transaction() as s:
        provider = await make_provider(s, place, name=name)
    person = Person(db, user_id=user_id, name="동훈")
    await person.say(f"/start {await invite_code(db, provider_id=provider.id)}")
    return person, provider


async def notices_to(db: Database, person: Person) -> list[Outbox]:
    """Return the outbox rows for the person's chat, oldest first."""
    async with db.sessions() as s:
        rows = (
            await s.execute(select(Outbox).where(Outbox.chat_id == str(person.user_id)).order_by(Outbox.id))
        ).scalars()
        return list(rows)


def show_notice(person: Person, row: Outbox) -> None:
    """Put an outbox notice into the person's transcript as the sender would deliver it."""
    person.transcript.append(f"봇 (알림): {row.text}")
    for line in row.buttons or []:
        person.transcript.append("     " + "  ".join(f"[{b['text']}]" for b in line))


async def press_on_any(person: Person, text: str) -> None:
    """Press the button with this text on the newest message that has it (lists put buttons under each item)."""
    from aiogram.types import InlineKeyboardMarkup

    for message in reversed(person.sent()):
        if isinstance(message.reply_markup, InlineKeyboardMarkup):
            for row in message.reply_markup.inline_keyboard:
                for button in row:
                    if button.text == text:
                        person.transcript.append(f"나: [{text}]")
                        await person.feed(person.callback_update(button.callback_data or ""))
                        return
    raise AssertionError(f"no button {text!r}")
