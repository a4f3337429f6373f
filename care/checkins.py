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

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import identity, inbox, parsing
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import outbox
from storage.models import (
    CareManager,
    ChannelBinding,
    CheckinSchedule,
    CheckinSlot,
    DeskNotice,
    DeskThread,
    FamilyContact,
    Operator,
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
ASK_NIGHT = N_("This is the night safety check. Are you all right tonight?")
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
ALL_CLEAR_BY_DESK = N_("The care desk has confirmed that {name} is fine. Thank you.")

# The desk's follow-up of a check-in nobody answered, as the board's buttons offer it.
FOLLOWUPS: dict[str, str] = {
    "called_ok": N_("Called, is fine"),
    "visit": N_("No answer by phone, visit asked"),
    "emergency": N_("Reported to 119/112"),
    "family_ok": N_("Family confirmed"),
}
# These say the person is fine: whoever was alerted hears the all-clear.
FOLLOWUPS_ALL_CLEAR = ("called_ok", "family_ok")
FOLLOWUP_TAKEN = N_("{who} already recorded a follow-up for this check-in: {what}.")
FOLLOWUP_NOT_NEEDED = N_("This check-in does not need a follow-up.")
# A streak of unanswered check-ins this long puts the person on the desk's list.
MISSED_STREAK = 2
MISSED_STATUSES = ("missed", "escalated", "unreachable")


@dataclass
class BoardRow:
    """One line of today's check-in board."""

    slot: CheckinSlot
    resident_id: int
    name: str
    phone: str | None
    family_phones: list[str] = field(default_factory=list)
    followup_by_name: str | None = None

    @property
    def needs_call(self) -> bool:
        return needs_followup(self.slot)


def needs_followup(slot: CheckinSlot) -> bool:
    """Return True when nobody heard from the person (or they asked for help): the desk should call."""
    return slot.status in NEEDS_CALL or slot.answer == "help"


@dataclass
class AttentionRow:
    """A person the desk should look at: check-ins missed in a row, or a chat that stopped working."""

    resident_id: int
    name: str
    phone: str | None
    missed_in_a_row: int = 0
    last_missed_at: datetime | None = None
    last_followup: str | None = None
    unreachable: bool = False


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
    second_minute: int | None = None,
) -> CheckinSchedule:
    """Create or replace the resident's schedule (weekdays 0=Monday, minutes after midnight) and return it."""
    days = sorted(set(weekdays))
    if not days or any(d not in range(7) for d in days):
        raise InvalidInput(N_("Please choose at least one day of the week."))
    if not 0 <= at_minute < 24 * 60:
        raise InvalidInput(N_("Please choose a time of day."))
    if second_minute is not None and (not 0 <= second_minute < 24 * 60 or second_minute == at_minute):
        raise InvalidInput(N_("Please choose a second time that differs from the first."))
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    schedule = await get_schedule(session, resident_id=resident_id)
    if schedule is None:
        schedule = CheckinSchedule(resident_id=resident_id)
    if (
        schedule.id is None
        or schedule.weekdays != days
        or schedule.at_minute != at_minute
        or schedule.second_minute != second_minute
        or not schedule.active
    ):
        schedule.effective_from = clock.now()
    schedule.weekdays = days
    schedule.at_minute = at_minute
    schedule.second_minute = second_minute
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
    """Return the schedule in words, e.g. '월·수·금 오전 10시' (every day: '매일 오전 10시, 밤 9시')."""
    names = [gettext(n, locale) for n in WEEKDAY_NAMES]
    days = (
        gettext(EVERY_DAY, locale)
        if sorted(schedule.weekdays or []) == list(range(7))
        else "·".join(names[d] for d in schedule.weekdays)
    )
    times = ", ".join(time_in_words(m, locale) for m in schedule_minutes(schedule))
    return f"{days} {times}"


def schedule_minutes(schedule: CheckinSchedule) -> list[int]:
    """Return the schedule's times of day (minutes after midnight), earliest first."""
    minutes = {schedule.at_minute}
    if schedule.second_minute is not None:
        minutes.add(schedule.second_minute)
    return sorted(minutes)


def time_in_words(minute: int, locale: str | None = None) -> str:
    """Return a time of day as people say it: '오전 10시', '오후 2시 30분', '밤 9시'."""
    hour, rest = divmod(minute, 60)
    if hour < 12:
        part, shown = MORNING, hour or 12
    elif hour < NIGHT_FROM // 60:
        part, shown = AFTERNOON, hour - 12 if hour > 12 else 12
    else:
        part, shown = NIGHT, hour - 12
    if rest:
        return gettext(TIME_WITH_MINUTES, locale, part=gettext(part, locale), hour=shown, minute=rest)
    return gettext(TIME_ON_THE_HOUR, locale, part=gettext(part, locale), hour=shown)


WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
EVERY_DAY = N_("Every day")
MORNING = N_("a.m.")
AFTERNOON = N_("p.m.")
NIGHT = N_("at night")
TIME_ON_THE_HOUR = N_("{part} {hour} o'clock")
TIME_WITH_MINUTES = N_("{part} {hour}:{minute:02d}")
# From this minute on a check-in is the night safety check (야간안전확인): 21:00.
NIGHT_FROM = 21 * 60


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


def is_due_today(schedule: CheckinSchedule, day: date, minute: int | None = None) -> bool:
    """Return True when the schedule asks on that day at that minute (default its first): active, in effect."""
    if not schedule.active or day.weekday() not in (schedule.weekdays or []):
        return False
    at = schedule.at_minute if minute is None else minute
    if schedule.effective_from is not None and slot_time(day, at) < schedule.effective_from:
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
            or_(
                col(CheckinSchedule.resident_id).not_in(existing),
                col(CheckinSchedule.second_minute).is_not(None),
            ),
        )
    )
    candidates = result.all()
    twice = [r.id for sc, r in candidates if sc.second_minute is not None]
    asked: set[tuple[int, datetime]] = set()
    if twice:
        made = await session.execute(
            select(col(CheckinSlot.resident_id), col(CheckinSlot.scheduled_at)).where(
                col(CheckinSlot.resident_id).in_(twice),
                col(CheckinSlot.scheduled_at) >= start,
                col(CheckinSlot.scheduled_at) < end,
            )
        )
        asked = {(rid, at.astimezone(UTC)) for rid, at in made.all()}
    now = clock.now()
    count = 0
    for schedule, resident in candidates:
        owed = [
            slot_time(yesterday, m)
            for m in schedule_minutes(schedule)
            if is_due_today(schedule, yesterday, m) and (resident.id, slot_time(yesterday, m)) not in asked
        ]
        if not owed:
            continue
        for at in owed:
            session.add(
                CheckinSlot(
                    resident_id=resident.id,  # type: ignore[arg-type]
                    scheduled_at=at,
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
    # One time a day: skip whoever has today's slot in SQL. Two times: the slots are compared below.
    result = await session.execute(
        select(CheckinSchedule, Resident)
        .join(Resident, col(Resident.id) == col(CheckinSchedule.resident_id))
        .where(
            col(CheckinSchedule.active).is_(True),
            or_(col(CheckinSchedule.at_minute) <= minute_now, col(CheckinSchedule.second_minute) <= minute_now),
            col(Resident.purged_at).is_(None),
            or_(
                and_(
                    col(CheckinSchedule.second_minute).is_(None),
                    col(CheckinSchedule.resident_id).not_in(existing),
                ),
                col(CheckinSchedule.second_minute).is_not(None),
            ),
        )
        .order_by(col(CheckinSchedule.at_minute), col(CheckinSchedule.id))
    )
    candidates = result.all()
    twice = [r.id for sc, r in candidates if sc.second_minute is not None]
    asked: set[tuple[int, datetime]] = set()
    if twice:
        made = await session.execute(
            select(col(CheckinSlot.resident_id), col(CheckinSlot.scheduled_at)).where(
                col(CheckinSlot.resident_id).in_(twice),
                col(CheckinSlot.scheduled_at) >= start,
                col(CheckinSlot.scheduled_at) < end,
            )
        )
        asked = {(rid, at.astimezone(UTC)) for rid, at in made.all()}
    due: list[tuple[CheckinSchedule, Resident, int]] = []
    for sc, r in candidates:
        for minute in schedule_minutes(sc):
            if minute > minute_now or not is_due_today(sc, today, minute):
                continue
            if sc.second_minute is not None and (r.id, slot_time(today, minute)) in asked:
                continue
            due.append((sc, r, minute))
    due = due[:limit]
    chats = await _resident_chats(session, list({r.id for _, r, _ in due}))  # type: ignore[misc]
    slots: list[tuple[CheckinSlot, ResidentChannel | None, int]] = []
    for _schedule, resident, minute in due:
        slot = CheckinSlot(resident_id=resident.id, scheduled_at=slot_time(today, minute))  # type: ignore[arg-type]
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
        slots.append((slot, chat, minute))
    await session.flush()
    messages = []
    districts = {r.id: r.district_id for _, r, _ in due}
    for slot, chat, minute in slots:
        if chat is not None and slot.status == "sent":
            assert slot.id is not None
            messages.append(
                {
                    "district_id": districts[slot.resident_id],
                    "channel": chat.channel,
                    "chat_id": chat.user_key,
                    "text": gettext(ASK_NIGHT if minute >= NIGHT_FROM else ASK, chat.language),
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
        await inbox.record_incoming(session, thread=thread, text=gettext(HELP_DESK_NOTE), at=now)
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
    by_ids = {s.followup_by for s, _ in rows if s.followup_by is not None}
    names: dict[int, str] = {}
    if by_ids:
        ops = await session.execute(select(Operator).where(col(Operator.id).in_(by_ids)))
        names = {o.id: o.display_name or o.username for o in ops.scalars() if o.id is not None}
    board = [
        BoardRow(
            slot=s,
            resident_id=r.id,  # type: ignore[arg-type]
            name=r.name,
            phone=r.phone,
            family_phones=phones.get(r.id, []),  # type: ignore[arg-type]
            followup_by_name=names.get(s.followup_by) if s.followup_by is not None else None,
        )
        for s, r in rows
    ]
    # Whoever asked for help comes first, then those nobody reached.
    board.sort(
        key=lambda b: (
            b.slot.followup is not None,
            b.slot.answer != "help",
            BOARD_ORDER.get(b.slot.status, 9),
            b.slot.scheduled_at,
            b.name,
        )
    )
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
    second_minute: int | None = None,
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
            second_minute=second_minute,
        )
    await access.log(session, action="change_checkin_schedule", resident_id=resident_id)
    return schedule


# ---------------------------------------------------------------- the desk's follow-up


async def follow_up(
    session: AsyncSession, *, slot_id: int, access: Access, outcome: str, note: str | None = None
) -> CheckinSlot:
    """Record the desk's follow-up of a check-in nobody answered (writers; logged); return the slot.

    Of two operators at once only one records it (a guarded write): the other gets ConflictError
    naming who did what. "Is fine" answers (FOLLOWUPS_ALL_CLEAR) tell whoever was alerted, through
    the outbox in the same transaction.
    """
    access.check_writer()
    if outcome not in FOLLOWUPS:
        raise InvalidInput()
    slot = await get_slot(session, slot_id=slot_id)
    resident = await _desk_resident(session, resident_id=slot.resident_id, access=access)
    if not needs_followup(slot):
        raise InvalidInput(FOLLOWUP_NOT_NEEDED)
    now = clock.now()
    won = await session.execute(
        update(CheckinSlot)
        .where(col(CheckinSlot.id) == slot_id, col(CheckinSlot.followup).is_(None))
        .values(
            followup=outcome,
            followup_note=(note or "").strip() or None,
            followup_by=access.operator_id,
            followup_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    slot = await get_slot(session, slot_id=slot_id)
    if not won.rowcount:  # type: ignore[attr-defined]
        who = await session.get(Operator, slot.followup_by) if slot.followup_by else None
        raise ConflictError(
            FOLLOWUP_TAKEN,
            who=(who.display_name or who.username) if who else "-",
            what=gettext(FOLLOWUPS.get(slot.followup or "", "-")),
        )
    if outcome in FOLLOWUPS_ALL_CLEAR and not slot.all_clear_sent:
        for target in slot.alerted or []:
            await outbox.enqueue(
                session,
                district_id=resident.district_id,
                channel=target["channel"],
                chat_id=target["chat_id"],
                text=gettext(ALL_CLEAR_BY_DESK, None, name=resident.name),
                kind="checkin_all_clear",
                ref=f"checkin:{slot.id}",
                resident_id=slot.resident_id,
            )
            slot.all_clear_sent = True
        session.add(slot)
        await session.flush()
    await access.log(session, action="checkin_followup", resident_id=resident.id, detail=outcome)
    return slot


# ---------------------------------------------------------------- people to look at


async def list_attention(
    session: AsyncSession, *, access: Access, streak: int = MISSED_STREAK, days: int = 30
) -> tuple[list[AttentionRow], list[AttentionRow]]:
    """Return the district's people with `streak`+ check-ins unanswered in a row, and those unreachable (logged)."""
    since = clock.now() - timedelta(days=days)
    query = (
        select(CheckinSlot, Resident)
        .join(Resident, col(Resident.id) == col(CheckinSlot.resident_id))
        .where(
            col(CheckinSlot.scheduled_at) >= since,
            col(CheckinSlot.status).not_in(["pending", "sent", "reminded", "skipped"]),
            col(Resident.purged_at).is_(None),
            # Only people who missed at least one lately: most answer, and their slots are not read.
            col(CheckinSlot.resident_id).in_(
                select(col(CheckinSlot.resident_id)).where(
                    col(CheckinSlot.scheduled_at) >= since, col(CheckinSlot.status).in_(MISSED_STATUSES)
                )
            ),
        )
        .order_by(col(CheckinSlot.resident_id), col(CheckinSlot.scheduled_at).desc())
    )
    if access.district_id is not None:
        query = query.where(col(Resident.district_id) == access.district_id)
    rows: dict[int, AttentionRow] = {}
    broken: set[int] = set()
    for slot, resident in (await session.execute(query)).all():
        rid = resident.id
        assert rid is not None
        if rid in broken:
            continue
        missed = slot.status in MISSED_STATUSES and slot.answer is None
        if not missed:
            broken.add(rid)  # the newest answered slot ends the streak
            continue
        row = rows.get(rid)
        if row is None:
            row = rows[rid] = AttentionRow(
                resident_id=rid,
                name=resident.name,
                phone=resident.phone,
                last_missed_at=slot.scheduled_at,
                last_followup=slot.followup,
            )
        row.missed_in_a_row += 1
    missed_rows = sorted(
        (r for r in rows.values() if r.missed_in_a_row >= streak),
        key=lambda r: (-r.missed_in_a_row, r.name),
    )
    unreachable_query = (
        select(Resident)
        .join(ResidentChannel, col(ResidentChannel.resident_id) == col(Resident.id))
        .where(
            col(ResidentChannel.reachable).is_(False),
            col(ResidentChannel.verified_at).is_not(None),
            col(ResidentChannel.revoked_at).is_(None),
            col(Resident.purged_at).is_(None),
        )
        .order_by(col(Resident.name), col(Resident.id))
    )
    if access.district_id is not None:
        unreachable_query = unreachable_query.where(col(Resident.district_id) == access.district_id)
    people = list({p.id: p for p in (await session.execute(unreachable_query)).scalars()}.values())
    reachable = await identity.list_reachable(session, resident_ids=[p.id for p in people if p.id is not None])
    unreachable_rows = [
        AttentionRow(resident_id=p.id, name=p.name, phone=p.phone, unreachable=True)  # type: ignore[arg-type]
        for p in people
        if p.id not in reachable
    ]
    shown = [r.resident_id for r in missed_rows] + [r.resident_id for r in unreachable_rows]
    await access.log(session, action="view_checkin_attention", resident_ids=sorted(set(shown)))
    return missed_rows, unreachable_rows


# ---------------------------------------------------------------- the resident's own choice in the bot

# What the bot offers (buttons only): key -> (first time, second time or None).
BOT_CHOICES: dict[str, tuple[int, int | None]] = {
    "morning": (600, None),
    "twice": (600, 1140),
    "night": (600, NIGHT_FROM),
}


async def get_own_schedule(session: AsyncSession, *, channel: str, user_key: str) -> CheckinSchedule | None:
    """Return the schedule of the resident this verified chat belongs to (None: no schedule); NotFound for others."""
    resident_id = await identity.verified_resident(session, channel=channel, user_key=user_key)
    if resident_id is None:
        raise NotFound()
    return await get_schedule(session, resident_id=resident_id)


async def choose_own_times(session: AsyncSession, *, channel: str, user_key: str, choice: str) -> CheckinSchedule:
    """Set the times a verified resident chose in the bot (BOT_CHOICES; days stay) and return the schedule."""
    if choice not in BOT_CHOICES:
        raise InvalidInput()
    resident_id = await identity.verified_resident(session, channel=channel, user_key=user_key)
    if resident_id is None:
        raise NotFound()
    first, second = BOT_CHOICES[choice]
    current = await get_schedule(session, resident_id=resident_id)
    return await set_schedule(
        session,
        resident_id=resident_id,
        weekdays=list(current.weekdays) if current and current.active and current.weekdays else list(range(7)),
        at_minute=first,
        second_minute=second,
        paused_until=current.paused_until if current else None,
        alert_family=current.alert_family if current else True,
        alert_care_manager=current.alert_care_manager if current else True,
    )
