"""Messages the bot could not handle after every retry: the desk is told, the person gets an apology.

A person's message is never dropped silently: when handling it failed MAX_ATTEMPTS times (see
storage.inbound), a desk notice names the chat (and the resident, when the chat is bound to one)
so an operator can call back, and the person is told kindly that the desk will get in touch.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import districts, intake
from dolbom.i18n import N_, gettext
from storage import outbox
from storage.models import DeskNotice, Resident, ResidentChannel

KIND = "message_failed"
TITLE = N_("A message could not be handled: please contact {who}")
BODY = N_(
    "Chat: {channel} {chat_id}\nWhat the person sent: {text}\nThe bot tried several times and then stopped ({error})."
)
APOLOGY = N_(
    "Sorry, we could not handle your message because of a problem on our side. "
    "The desk has been told and will contact you soon."
)
MAX_TEXT_IN_NOTICE = 300


async def report(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str | None,
    display_name: str | None,
    text: str | None,
    language: str | None,
    error: str,
    ref: str,
) -> DeskNotice:
    """Tell the desk about a message that failed for good and queue the apology; return the notice."""
    resident: Resident | None = None
    if chat_id is not None:
        resident = (
            await session.execute(
                select(Resident)
                .join(ResidentChannel, col(ResidentChannel.resident_id) == col(Resident.id))
                .where(col(ResidentChannel.channel) == channel, col(ResidentChannel.user_key) == chat_id)
                .limit(1)
            )
        ).scalar_one_or_none()
    who = resident.name if resident is not None else (display_name or chat_id or "-")
    # A person the desk does not know yet wrote to the bot of the district it serves: that desk is told.
    district_id = resident.district_id if resident is not None else await intake.find_district_id(session)
    notice = DeskNotice(
        district_id=district_id,
        kind=KIND,
        title=gettext(TITLE, None, who=who),
        body=gettext(
            BODY,
            None,
            channel=channel,
            chat_id=chat_id or "-",
            text=(text or "-")[:MAX_TEXT_IN_NOTICE],
            error=error,
        ),
    )
    session.add(notice)
    if chat_id is not None:
        await outbox.enqueue(
            session,
            district_id=district_id,
            channel=channel,
            chat_id=chat_id,
            text=" ".join(
                t
                for t in (
                    gettext(APOLOGY, language),
                    districts.urgent_text(await districts.desk_phone(session, district_id=district_id), language),
                )
                if t
            ),
            kind="apology",
            ref=ref,
            resident_id=resident.id if resident is not None else None,
        )
    await session.flush()
    return notice
