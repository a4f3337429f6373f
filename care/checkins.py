"""Safety check-ins (안부확인): schedules, the daily slots, reminders, escalation and answers.

A slot is one row per (resident, scheduled time); the unique key makes a slot
happen once however often the jobs run. Each step (sent, reminded, missed,
escalated, answered, all clear) is recorded on the slot, and every message goes
through the outbox in the same transaction.

Holidays (docs/decisions/0002-checkins-on-holidays.md): check-ins are sent on
public holidays like any other day, and the slot notes the holiday; a district
that decides otherwise sets DOLBOM_CHECKIN_SKIP_HOLIDAYS=true and the slot is
recorded as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import identity, parsing
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import outbox
from storage.models import (
    CareManager,
    ChannelBinding,
    CheckinSchedule,
    CheckinSlot,
    DeskMessage,
    DeskNotice,
    DeskThread,
    FamilyContact,
    Resident,
    ResidentChannel,
)

ANSWERS = ("ok", "help")
OPEN_STATUSES = ("sent", "reminded", "missed", "escalated")
# The board lists these first: someone should pick up the phone.
NEEDS_CALL = ("missed", "escalated", "unreachable")
BOARD_ORDER = {"missed": 0, "escalated": 1, "unreachable": 2, "reminded": 3, "sent": 4, "pending": 5}

# What people read. Korean translations live in locales/.
ASK = N_("Are you doing well?")
ASK_REMINDER = N_("We have not heard from you yet. Are you doing well?")
BUTTON_OK = N_("I am fine")
BUTTON_HELP = N_("I need help")
NOT_SENT_TITLE = N_("Yesterday's safety check for {name} was not sent")
NOT_SENT_BODY = N_("The check-in service was not running at the time. Please call them: {phone}")
ALERT_FAMILY = N_("{name} has not answered today's safety check. Please call them. The care desk knows too.")
ALERT_CARE_MANAGER = N_("{name} has not answered today's safety check. The care desk will call. Phone: {phone}")
ALL_CLEAR = N_("{name} has answered the safety check and is fine. Thank you.")
HELP_AFTER_ALERT = N_("{name} answered the safety check and asked for help. The care desk will contact them.")
HELP_DESK_NOTE = N_("Asked for help in the safety check.")
THANKS_OK = N_("Thank you. We are glad you are well.")
THANKS_HELP = N_("We will contact you soon. If it is urgent, please call 119.")


@dataclass
class BoardRow:
    """One line of today's check-in board."""

    slot: CheckinSlot
    resident_id: int
    name: str
    phone: str | None
    family_phones: list[str] = field(default_factory=list)

    @property
    def needs_call(self) -> bool:
        return self.slot.status in NEEDS_CALL or self.slot.answer == "help"


# ---------------------------------------------------------------- schedules


async def get_schedule(session: AsyncSession, *, resident_id: int) -> CheckinSchedule | None:
    """Return the resident's check-in schedule, or None."""
    result = await session.execute(select(CheckinSchedule).where(col(CheckinSchedule.resident_id) == resident_id))
    return result.scalar_one_or_none()


async def set_schedule(
    session: AsyncSession,
    *,
    resident_id: int,
    weekdays: list[int],
    at_minute: int,
    paused_until: date | None = None,
    alert_family: bool = True,
    alert_care_manager: bool = True,
) -> CheckinSchedule:
    """Create or replace the resident's schedule (weekdays 0=Monday, minutes after midnight) and return it."""
    days = sorted(set(weekdays))
    if not days or any(d not in range(7) for d in days):
        raise InvalidInput(N_("Please choose at least one day of the week."))
    if not 0 <= at_minute < 24 * 60:
        raise InvalidInput(N_("Please choose a time of day."))
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    schedule = await get_schedule(session, resident_id=resident_id)
    if schedule is None:
        schedule = CheckinSchedule(resident_id=resident_id)
    if schedule.id is None or schedule.weekdays != days or schedule.at_minute != at_minute or not schedule.active:
        schedule.effective_from = clock.now()
    schedule.weekdays = days
    schedule.at_minute = at_minute
    schedule.paused_until = paused_until
    schedule.alert_family = alert_family
    schedule.alert_care_manager = alert_care_manager
    schedule.active = True
    session.add(schedule)
    await session.flush()
    return schedule


async def pause(session: AsyncSession, *, resident_id: int, until: date) -> CheckinSchedule:
    """Pause the resident's check-ins up to and including a date (hospital stay, trip); return the schedule."""
    schedule = await get_schedule(session, resident_id=resident_id)
    if schedule is None:
        raise NotFound()
    schedule.paused_until = until
    session.add(schedule)
    await session.flush()
    return schedule


async def resume(session: AsyncSession, *, resident_id: int) -> CheckinSchedule:
    """Lift a pause and return the schedule."""
    schedule = await get_schedule(session, resident_id=resident_id)
    if schedule is None:
        raise NotFound()
    schedule.paused_until = None
    schedule.active = True
    session.add(schedule)
    await session.flush()
    return schedule


async def stop(session: AsyncSession, *, resident_id: int) -> CheckinSchedule | None:
    """Stop the resident's check-ins altogether and return the schedule (None when there was none)."""
    schedule = await get_schedule(session, resident_id=resident_id)
    if schedule is not None:
        schedule.active = False
        session.add(schedule)
        await session.flush()
    return schedule


def describe(schedule: CheckinSchedule, locale: str | None = None) -> str:
    """Return the schedule in words, e.g. '월·수·금 10:00'."""
    names = [gettext(n, locale) for n in WEEKDAY_NAMES]
    days = "·".join(names[d] for d in schedule.weekdays)
    return f"{days} {schedule.at_minute // 60:02d}:{schedule.at_minute % 60:02d}"


WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


# ---------------------------------------------------------------- time


@lru_cache(maxsize=16)
def _korean_holidays(year: int) -> dict[date, str]:
    import holidays  # on first use: not on the path of a restarted bot's first answer

    return dict(holidays.country_holidays("KR", years=year).items())


def holiday_name(day: date) -> str | None:
    """Return the Korean public holiday on that day (its English name), or None."""
    return _korean_holidays(day.year).get(day)


def slot_time(day: date, at_minute: int) -> datetime:
    """Return the UTC moment of a local day at minutes after midnight."""
    local = datetime.combine(day, time(0), tzinfo=clock.zone()) + timedelta(minutes=at_minute)
    return local.astimezone(UTC)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = slot_time(day, 0)
    return start, start + timedelta(days=1)


def is_due_today(schedule: CheckinSchedule, day: date) -> bool:
    """Return True when the schedule asks on that local day (weekday on, active, not paused, in effect)."""
    if not schedule.active or day.weekday() not in (schedule.weekdays or []):
        return False
    if schedule.effective_from is not None and slot_time(day, schedule.at_minute) < schedule.effective_from:
        return False
    return schedule.paused_until is None or schedule.paused_until < day


# ---------------------------------------------------------------- who and where


def _ask_buttons(slot_id: int, locale: str | None) -> list[list[dict[str, str]]]:
    return [
        [{"text": gettext(BUTTON_OK, locale), "data": f"ci:{slot_id}:ok"}],
        [{"text": gettext(BUTTON_HELP, locale), "data": f"ci:{slot_id}:help"}],
    ]


async def _alert_targets(
    session: AsyncSession, resident: Resident, schedule: CheckinSchedule | None
) -> list[dict[str, Any]]:
    """Return who to tell when a check-in is missed: [{channel, chat_id, who, language}]."""
    targets: list[dict[str, Any]] = []
    if schedule is None or schedule.alert_family:
        result = await session.execute(
            select(FamilyContact).where(
                col(FamilyContact.resident_id) == resident.id,
                identity.family_alert_clause(),
            )
        )
        for contact in result.scalars():
            if contact.channel and contact.user_key:
                targets.append({"channel": contact.channel, "chat_id": contact.user_key, "who": "family"})
    if (schedule is None or schedule.alert_care_manager) and resident.dong_id is not None:
        result2 = await session.execute(
            select(ChannelBinding)
            .join(CareManager, col(CareManager.id) == col(ChannelBinding.care_manager_id))
            .where(
                col(CareManager.dong_id) == resident.dong_id,
                col(CareManager.active).is_(True),
                col(ChannelBinding.role) == "care_manager",
                col(ChannelBinding.revoked_at).is_(None),
            )
        )
        for binding in result2.scalars():
            targets.append({"channel": binding.channel, "chat_id": binding.user_key, "who": "care_manager"})
    seen: set[tuple[str, str]] = set()
    unique = []
    for t in targets:
        key = (t["channel"], t["chat_id"])
        if key not in seen:
            seen.add(key)
            unique.append(t)
    return unique


# ---------------------------------------------------------------- the jobs' steps


async def record_not_sent(session: AsyncSession) -> int:
    """Record yesterday's check-ins that were never sent (jobs down over midnight) as missed; return how many.

    Nobody was asked, so nobody is alerted as if they had not answered: each one goes on the
    desk's notices so the desk calls the person.
    """
    yesterday = clock.today() - timedelta(days=1)
    start, end = _day_bounds(yesterday)
    existing = select(col(CheckinSlot.resident_id)).where(
        col(CheckinSlot.scheduled_at) >= start, col(CheckinSlot.scheduled_at) < end
    )
    result = await session.execute(
        select(CheckinSchedule, Resident)
        .join(Resident, col(Resident.id) == col(CheckinSchedule.resident_id))
        .where(
            col(CheckinSchedule.active).is_(True),
            col(Resident.purged_at).is_(None),
            col(CheckinSchedule.resident_id).not_in(existing),
        )
    )
    now = clock.now()
    count = 0
    for schedule, resident in result.all():
        if not is_due_today(schedule, yesterday):
            continue
        session.add(
            CheckinSlot(
                resident_id=resident.id,  # type: ignore[arg-type]
                scheduled_at=slot_time(yesterday, schedule.at_minute),
                status="missed",
                missed_at=now,
                note="not sent: the check-in service was not running",
            )
        )
        resident.needs_phone_call = True
        session.add(resident)
        session.add(
            DeskNotice(
                district_id=resident.district_id,
                resident_id=resident.id,
                kind="checkin_not_sent",
                title=gettext(NOT_SENT_TITLE, None, name=resident.name),
                body=gettext(
                    NOT_SENT_BODY, None, phone=parsing.format_phone(resident.phone) if resident.phone else "-"
                ),
            )
        )
        count += 1
    await session.flush()
    return count


async def dispatch_due(session: AsyncSession, *, limit: int = 500) -> int:
    """Create today's due slots (at most limit) with their questions in the outbox; return how many."""
    settings = get_settings()
    now = clock.now()
    today = clock.today()
    holiday = holiday_name(today)
    start, end = _day_bounds(today)
    minute_now = int((now - start).total_seconds() // 60)
    existing = select(col(CheckinSlot.resident_id)).where(
        col(CheckinSlot.scheduled_at) >= start,
        col(CheckinSlot.scheduled_at) < end,
    )
    result = await session.execute(
        select(CheckinSchedule, Resident)
        .join(Resident, col(Resident.id) == col(CheckinSchedule.resident_id))
        .where(
            col(CheckinSchedule.active).is_(True),
            col(CheckinSchedule.at_minute) <= minute_now,
            col(Resident.purged_at).is_(None),
            col(CheckinSchedule.resident_id).not_in(existing),
        )
        .order_by(col(CheckinSchedule.at_minute), col(CheckinSchedule.id))
    )
    due = [(sc, r) for sc, r in result.all() if is_due_today(sc, today)][:limit]
    chats = await _resident_chats(session, [r.id for _, r in due])  # type: ignore[misc]
    slots: list[tuple[CheckinSlot, ResidentChannel | None]] = []
    for schedule, resident in due:
        slot = CheckinSlot(resident_id=resident.id, scheduled_at=slot_time(today, schedule.at_minute))  # type: ignore[arg-type]
        if holiday:
            slot.note = f"holiday: {holiday}"
        chat = chats.get(resident.id)  # type: ignore[arg-type]
        if holiday and settings.checkin_skip_holidays:
            slot.status = "skipped"
        elif chat is None:
            slot.status = "unreachable"
            resident.needs_phone_call = True
            session.add(resident)
        else:
            slot.status = "sent"
            slot.sent_at = now
            slot.channel = chat.channel
            slot.chat_id = chat.user_key
        session.add(slot)
        slots.append((slot, chat))
    await session.flush()
    messages = []
    districts = {r.id: r.district_id for _, r in due}
    for slot, chat in slots:
        if chat is not None and slot.status == "sent":
            assert slot.id is not None
            messages.append(
                {
                    "district_id": districts[slot.resident_id],
                    "channel": chat.channel,
                    "chat_id": chat.user_key,
                    "text": gettext(ASK, chat.language),
                    "buttons": _ask_buttons(slot.id, chat.language),
                    "kind": "checkin",
                    "ref": f"checkin:{slot.id}",
                    "resident_id": slot.resident_id,
                }
            )
    await outbox.enqueue_many(session, messages)
    return len(slots)


async def _resident_chats(session: AsyncSession, resident_ids: list[int]) -> dict[int, ResidentChannel]:
    """Return each resident's reachable verified chat (telegram first); a claimed chat never gets a check-in."""
    return await identity.list_reachable(session, resident_ids=resident_ids)


async def remind_due(session: AsyncSession) -> int:
    """Send the reminder for slots unanswered past the reminder time; return how many."""
    settings = get_settings()
    now = clock.now()
    cutoff = now - timedelta(minutes=settings.checkin_reminder_minutes)
    missed_cutoff = now - timedelta(minutes=settings.checkin_missed_minutes)
    result = await session.execute(
        select(CheckinSlot).where(
            col(CheckinSlot.status) == "sent",
            col(CheckinSlot.sent_at) <= cutoff,
            col(CheckinSlot.sent_at) > missed_cutoff,
        )
    )
    count = 0
    for slot in result.scalars():
        won = await session.execute(
            update(CheckinSlot)
            .where(col(CheckinSlot.id) == slot.id, col(CheckinSlot.status) == "sent")
            .values(status="reminded", reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if not won.rowcount:  # type: ignore[attr-defined]
            continue
        language = await _language(session, slot)
        assert slot.id is not None and slot.channel and slot.chat_id
        resident = await session.get(Resident, slot.resident_id)
        await outbox.enqueue(
            session,
            district_id=resident.district_id if resident else None,
            channel=slot.channel,
            chat_id=slot.chat_id,
            text=gettext(ASK_REMINDER, language),
            buttons=_ask_buttons(slot.id, language),
            kind="checkin_reminder",
            ref=f"checkin:{slot.id}",
            resident_id=slot.resident_id,
        )
        count += 1
    return count


async def _language(session: AsyncSession, slot: CheckinSlot) -> str:
    result = await session.execute(
        select(col(ResidentChannel.language)).where(
            col(ResidentChannel.channel) == slot.channel, col(ResidentChannel.user_key) == slot.chat_id
        )
    )
    return result.scalar_one_or_none() or "ko"


async def escalate_due(session: AsyncSession) -> int:
    """Declare unanswered slots missed and alert family and care manager; return how many."""
    settings = get_settings()
    now = clock.now()
    cutoff = now - timedelta(minutes=settings.checkin_missed_minutes)
    result = await session.execute(
        select(CheckinSlot).where(
            col(CheckinSlot.status).in_(["sent", "reminded"]),
            col(CheckinSlot.sent_at) <= cutoff,
        )
    )
    count = 0
    for slot in list(result.scalars()):
        resident = await session.get(Resident, slot.resident_id)
        if resident is None:
            continue
        schedule = await get_schedule(session, resident_id=slot.resident_id)
        targets = await _alert_targets(session, resident, schedule)
        status = "escalated" if targets else "missed"
        won = await session.execute(
            update(CheckinSlot)
            .where(col(CheckinSlot.id) == slot.id, col(CheckinSlot.status).in_(["sent", "reminded"]))
            .values(
                status=status,
                missed_at=now,
                escalated_at=now if targets else None,
                alerted=[{"channel": t["channel"], "chat_id": t["chat_id"], "who": t["who"]} for t in targets],
            )
            .execution_options(synchronize_session=False)
        )
        if not won.rowcount:  # type: ignore[attr-defined]
            continue
        for t in targets:
            text = ALERT_FAMILY if t["who"] == "family" else ALERT_CARE_MANAGER
            await outbox.enqueue(
                session,
                district_id=resident.district_id,
                channel=t["channel"],
                chat_id=t["chat_id"],
                text=gettext(text, None, name=resident.name, phone=resident.phone or "-"),
                kind="checkin_alert",
                ref=f"checkin:{slot.id}",
                resident_id=slot.resident_id,
            )
        count += 1
    return count


# ---------------------------------------------------------------- answers


async def get_slot(session: AsyncSession, *, slot_id: int) -> CheckinSlot:
    """Return a slot or raise NotFound."""
    slot = await session.get(CheckinSlot, slot_id, populate_existing=True)
    if slot is None:
        raise NotFound()
    return slot


async def answer(session: AsyncSession, *, slot_id: int, answer: str, channel: str, user_key: str) -> CheckinSlot:
    """Record a resident's answer (ok | help); tell those alerted; open a desk thread on help; return the slot."""
    if answer not in ANSWERS:
        raise InvalidInput()
    slot = await get_slot(session, slot_id=slot_id)
    own = await session.execute(
        select(col(ResidentChannel.id)).where(
            col(ResidentChannel.resident_id) == slot.resident_id,
            col(ResidentChannel.channel) == channel,
            col(ResidentChannel.user_key) == user_key,
            col(ResidentChannel.verified_at).is_not(None),
        )
    )
    if own.first() is None and not (slot.channel == channel and slot.chat_id == user_key):
        raise PermissionDenied()
    if slot.answer == answer or slot.answer == "help":
        return slot  # a double tap, or help already given: the desk has it
    now = clock.now()
    # A guarded write first: it waits for an escalation being written at this moment, and of two
    # answers at once only one changes the slot (no answer → ok|help, ok → help).
    may_replace = ["ok"] if answer == "help" else []
    won = await session.execute(
        update(CheckinSlot)
        .where(
            col(CheckinSlot.id) == slot_id,
            or_(col(CheckinSlot.answer).is_(None), col(CheckinSlot.answer).in_(may_replace)),
        )
        .values(status="answered", answer=answer, answered_at=func.coalesce(col(CheckinSlot.answered_at), now))
        .execution_options(synchronize_session=False)
    )
    # Read again after the write: who was alerted is known only now (escalation may just have run).
    slot = await get_slot(session, slot_id=slot_id)
    if not won.rowcount:  # type: ignore[attr-defined]
        return slot  # another answer got there first
    resident = await session.get(Resident, slot.resident_id)
    assert resident is not None
    resident.last_active_at = now
    session.add(resident)
    for target in slot.alerted or []:
        text = ALL_CLEAR if answer == "ok" else HELP_AFTER_ALERT
        await outbox.enqueue(
            session,
            district_id=resident.district_id,
            channel=target["channel"],
            chat_id=target["chat_id"],
            text=gettext(text, None, name=resident.name),
            kind="checkin_all_clear",
            ref=f"checkin:{slot.id}",
            resident_id=slot.resident_id,
        )
        slot.all_clear_sent = True
    if answer == "help":
        thread = DeskThread(
            channel=channel,
            user_key=user_key,
            resident_id=resident.id,
            district_id=resident.district_id,
            reason="checkin_help",
        )
        session.add(thread)
        await session.flush()
        assert thread.id is not None
        session.add(DeskMessage(thread_id=thread.id, direction="in", text=gettext(HELP_DESK_NOTE)))
    session.add(slot)
    await session.flush()
    return slot


async def mark_unreachable(session: AsyncSession, *, channel: str, chat_id: str) -> Resident | None:
    """The chat blocked us (403): mark it unreachable, stop its open check-ins, flag a phone call."""
    result = await session.execute(
        select(ResidentChannel).where(col(ResidentChannel.channel) == channel, col(ResidentChannel.user_key) == chat_id)
    )
    row = result.scalar_one_or_none()
    if row is None:
        return None
    row.reachable = False
    session.add(row)
    if row.verified_at is None:
        # A chat that only claims the resident says nothing about how to reach them.
        await session.flush()
        return None
    resident = await session.get(Resident, row.resident_id)
    if resident is None:
        return None
    resident.needs_phone_call = True
    session.add(resident)
    await session.execute(
        update(CheckinSlot)
        .where(
            col(CheckinSlot.resident_id) == resident.id,
            col(CheckinSlot.status).in_(["sent", "reminded"]),
        )
        .values(status="unreachable")
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return resident


# ---------------------------------------------------------------- the board


async def list_today(
    session: AsyncSession, *, district_id: int | None = None, day: date | None = None
) -> list[BoardRow]:
    """Return the day's slots (default today) with name and phone; those needing a call first."""
    start, end = _day_bounds(day or clock.today())
    query = (
        select(CheckinSlot, Resident)
        .join(Resident, col(Resident.id) == col(CheckinSlot.resident_id))
        .where(col(CheckinSlot.scheduled_at) >= start, col(CheckinSlot.scheduled_at) < end)
    )
    if district_id is not None:
        query = query.where(col(Resident.district_id) == district_id)
    rows = (await session.execute(query)).all()
    ids = [r.id for _, r in rows]
    phones: dict[int, list[str]] = {}
    if ids:
        fam = await session.execute(
            select(col(FamilyContact.resident_id), col(FamilyContact.phone)).where(
                col(FamilyContact.resident_id).in_(ids),
                col(FamilyContact.phone).is_not(None),
                col(FamilyContact.verified_at).is_not(None),
            )
        )
        for rid, phone in fam.all():
            if phone:
                phones.setdefault(rid, []).append(phone)
    board = [
        BoardRow(slot=s, resident_id=r.id, name=r.name, phone=r.phone, family_phones=phones.get(r.id, []))  # type: ignore[arg-type]
        for s, r in rows
    ]
    # Whoever asked for help comes first, then those nobody reached.
    board.sort(key=lambda b: (b.slot.answer != "help", BOARD_ORDER.get(b.slot.status, 9), b.slot.scheduled_at, b.name))
    return board


async def count_by_status(
    session: AsyncSession, *, district_id: int | None = None, day: date | None = None
) -> dict[str, int]:
    """Return the number of the day's slots per status."""
    counts: dict[str, int] = {}
    for row in await list_today(session, district_id=district_id, day=day):
        counts[row.slot.status] = counts.get(row.slot.status, 0) + 1
    return counts


async def board(session: AsyncSession, *, access: Access, day: date | None = None) -> list[BoardRow]:
    """Return the day's board of the operator's district; the residents on it are logged."""
    rows = await list_today(session, district_id=access.district_id, day=day)
    await access.log(
        session,
        action="view_checkin_board",
        resident_ids=[r.resident_id for r in rows],
        detail=(day or clock.today()).isoformat(),
    )
    return rows


async def _desk_resident(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    if not access.sees(resident.district_id):
        raise OutOfDistrict(what="resident", thing_id=resident_id, resident_id=resident_id)
    return resident


async def get_for_desk(
    session: AsyncSession, *, resident_id: int, access: Access
) -> tuple[Resident, CheckinSchedule | None]:
    """Return a resident of the operator's district and their schedule (the view is logged)."""
    resident = await _desk_resident(session, resident_id=resident_id, access=access)
    await access.log(session, action="view_checkin_schedule", resident_id=resident_id)
    return resident, await get_schedule(session, resident_id=resident_id)


async def update_for_desk(
    session: AsyncSession,
    *,
    resident_id: int,
    access: Access,
    stop_all: bool,
    weekdays: list[int],
    at_minute: int,
    paused_until: date | None,
    alert_family: bool,
    alert_care_manager: bool,
) -> CheckinSchedule | None:
    """Set or stop the check-ins of a resident of the operator's district (writers; logged); return the schedule."""
    access.check_writer()
    await _desk_resident(session, resident_id=resident_id, access=access)
    if stop_all:
        schedule = await stop(session, resident_id=resident_id)
    else:
        schedule = await set_schedule(
            session,
            resident_id=resident_id,
            weekdays=weekdays,
            at_minute=at_minute,
            paused_until=paused_until,
            alert_family=alert_family,
            alert_care_manager=alert_care_manager,
        )
    await access.log(session, action="change_checkin_schedule", resident_id=resident_id)
    return schedule
