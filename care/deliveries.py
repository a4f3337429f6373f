"""Messages in doubt and messages that failed: what happens to each kind (docs/decisions/0007).

A row whose send was interrupted (the process died, or no reply came) may or may not have reached
the chat. The row itself is never sent twice (decision 0003). Instead, by kind:

- a receipt, a status notice, a desk reply, a check-in alert or all-clear: a copy marked
  "(다시 보내 드려요)" is sent, so the person reads it twice at worst, never not at all;
- a check-in question or reminder: not repeated. The slot goes on to its reminder and escalation
  as if unanswered, which is what the desk's check-in board already shows;
- a satisfaction question: not repeated (nobody waits on it).

A row that certainly failed (dead after its retries, or the chat blocked the bot) goes on the desk's
notices unless its slot on the check-in board already says so: nothing waits on a person unseen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import checkins
from dolbom.i18n import N_, gettext
from storage import outbox
from storage.models import Assignment, CheckinSlot, DeskNotice, Order, Outbox, Resident, ResidentChannel, Survey

log = logging.getLogger(__name__)

RESEND_MARK: Final = N_("(Sending this again)")
# Questions: asking again is not the answer to doubt; what follows an unanswered question is.
NOT_REPEATED: Final = frozenset({"checkin", "checkin_reminder", "survey"})
# Failures the check-in board already shows (the slot is reminded, missed or unreachable there).
ON_THE_BOARD: Final = frozenset({"checkin", "checkin_reminder"})
QUIET: Final = ON_THE_BOARD | {"survey"}

KIND_LABELS: Final = {
    "receipt": N_("request receipt"),
    "referral_notice": N_("referral status notice"),
    "assignment_notice": N_("assignment notice to a provider"),
    "checkin_alert": N_("missed check-in alert"),
    "checkin_all_clear": N_("check-in all-clear"),
    "desk_reply": N_("reply from the desk"),
}
NOT_DELIVERED_TITLE: Final = N_("A message was not delivered: {what}")
NOT_DELIVERED_BODY: Final = N_(
    "It could not reach {channel} chat {chat}: {error}. Please contact the person another way. "
    "The message is listed under Messages not delivered."
)
BLOCKED_BODY: Final = N_(
    "The person blocked the bot on {channel} (chat {chat}); {count} message(s) to them were not delivered. "
    "Please call them."
)
DOUBT_NOTE: Final = (
    "question in doubt (the sender stopped during the send): not asked again; reminder and escalation go on"
)


@dataclass
class Recovered:
    """What a start-up of the sender found: claims given back, copies sent, questions not repeated."""

    released: int = 0
    resent: int = 0
    not_repeated: int = 0


async def recover(session: AsyncSession, *, channel: str = "telegram") -> Recovered:
    """Give back a dead sender's claims and settle every row it left in doubt; return what was done."""
    released, in_doubt = await outbox.recover(session, channel=channel)
    done = Recovered(released=released)
    for row in in_doubt:
        outcome = await settle_in_doubt(session, row=row, error=row.last_error or "the sender stopped during the send")
        if outcome == "resent":
            done.resent += 1
        elif outcome == "not_repeated":
            done.not_repeated += 1
    return done


async def settle_in_doubt(session: AsyncSession, *, row: Outbox, error: str) -> str | None:
    """Settle one row whose delivery is unknown, by its kind; return resent|not_repeated (None: settled already)."""
    assert row.id is not None
    if row.kind in NOT_REPEATED:
        if not await outbox.settle_in_doubt(
            session, row_id=row.id, status="not_repeated", error=f"delivery unknown ({error}); not repeated"
        ):
            return None
        await _note_on_slot(session, row)
        return "not_repeated"
    # The guarded status change first: of two that settle the same row, one sends the copy.
    if not await outbox.settle_in_doubt(
        session, row_id=row.id, status="resent", error=f"delivery unknown ({error}); a marked copy was queued"
    ):
        return None
    await outbox.enqueue_copy(session, row=row, text=await _marked(session, row))
    return "resent"


async def give_up(session: AsyncSession, *, row: Outbox, error: str, blocked: bool = False) -> DeskNotice | None:
    """Move a row that certainly failed to the dead letters; tell the desk unless the board shows it; return the notice.

    blocked: the chat blocked the bot (403). Its other unsent rows are cancelled, the resident's
    channel is marked unreachable and their open check-ins go on the board as calls to make.
    """
    assert row.id is not None
    await outbox.mark_dead(session, row_id=row.id, error=error)
    affected = [row]
    resident: Resident | None = None
    if blocked:
        affected += await outbox.list_unsent(session, channel=row.channel, chat_id=row.chat_id)
        await outbox.cancel_chat(session, channel=row.channel, chat_id=row.chat_id, reason="chat unreachable")
        resident = await checkins.mark_unreachable(session, channel=row.channel, chat_id=row.chat_id)
    kinds = {r.kind for r in affected}
    if kinds <= QUIET:
        return None
    district_id, order_id = None, None
    for one in affected:
        district_id, order_id = await _where(session, one)
        if district_id is not None:
            break
    if district_id is None and resident is not None:
        district_id = resident.district_id
    what = ", ".join(gettext(KIND_LABELS.get(k, N_("message"))) for k in sorted(kinds - QUIET))
    if blocked:
        body = gettext(BLOCKED_BODY, None, channel=row.channel, chat=row.chat_id, count=len(affected))
    else:
        body = gettext(NOT_DELIVERED_BODY, None, channel=row.channel, chat=row.chat_id, error=error[:200])
    notice = DeskNotice(
        district_id=district_id,
        kind="message_not_delivered",
        order_id=order_id,
        title=gettext(NOT_DELIVERED_TITLE, None, what=what),
        body=body,
    )
    session.add(notice)
    await session.flush()
    return notice


async def _marked(session: AsyncSession, row: Outbox) -> str:
    language = (
        await session.execute(
            select(col(ResidentChannel.language)).where(
                col(ResidentChannel.channel) == row.channel, col(ResidentChannel.user_key) == row.chat_id
            )
        )
    ).scalar()
    mark = gettext(RESEND_MARK, language)
    if row.text.startswith(mark):  # a copy in doubt again: one mark is enough
        return row.text
    return f"{mark}\n{row.text}"


async def _note_on_slot(session: AsyncSession, row: Outbox) -> None:
    slot_id = _ref_id(row.ref, "checkin")
    slot = await session.get(CheckinSlot, slot_id) if slot_id is not None else None
    if slot is None:
        return
    slot.note = f"{slot.note}; {DOUBT_NOTE}" if slot.note else DOUBT_NOTE
    session.add(slot)
    await session.flush()


def _ref_id(ref: str | None, prefix: str) -> int | None:
    if not ref or not ref.startswith(f"{prefix}:"):
        return None
    tail = ref.split(":", 1)[1]
    return int(tail) if tail.isdigit() else None


async def _where(session: AsyncSession, row: Outbox) -> tuple[int | None, int | None]:
    """Return (district, order) of a row, from its own district when it has one, else from what it refers to."""
    district_id: int | None = getattr(row, "district_id", None)
    order_id = _ref_id(row.ref, "order")
    if order_id is None and (assignment_id := _ref_id(row.ref, "assignment")) is not None:
        assignment = await session.get(Assignment, assignment_id)
        order_id = assignment.order_id if assignment else None
    if order_id is None and (survey_id := _ref_id(row.ref, "survey")) is not None:
        survey = await session.get(Survey, survey_id)
        order_id = survey.order_id if survey else None
    if order_id is not None:
        order = await session.get(Order, order_id)
        if order is None:
            order_id = None
        elif district_id is None:
            district_id = order.district_id
    if district_id is None and (slot_id := _ref_id(row.ref, "checkin")) is not None:
        slot = await session.get(CheckinSlot, slot_id)
        resident = await session.get(Resident, slot.resident_id) if slot else None
        district_id = resident.district_id if resident else None
    return district_id, order_id
