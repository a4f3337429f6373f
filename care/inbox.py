"""The inbox (상담함): every conversation with the desk, its status, who answers it and how fast.

Threads come from the bot (상담원과 이야기하기, 도움이 필요해요, a callback request, free text the
bot could not place, a care manager's or provider's question about an order, 못 받았어요) through
`intake.post_to_desk`, which calls `record_incoming` here. Staff read and act through the
functions below, always with their `Access`: another district's thread is NotFound.

Statuses: open (열림) → pending (대기) / snoozed (나중에, until a time) / resolved (해결). A person
writing to a pending or snoozed thread reopens it; a snoozed one also reopens when its time comes.
Assignment, take-over and status changes are guarded UPDATEs on `version`: of two operators
acting on the same version, one wins and the other gets ConflictError.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import holidays
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import parsing
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import outbox
from storage.models import (
    Assignment,
    CannedReply,
    DeskMessage,
    DeskThread,
    InboxSetting,
    Operator,
    OperatorSession,
    Order,
    Referral,
    Resident,
)

OPEN: Final = "open"
PENDING: Final = "pending"
SNOOZED: Final = "snoozed"
RESOLVED: Final = "resolved"
STATUSES: Final = {
    OPEN: N_("Open"),
    PENDING: N_("On hold"),
    SNOOZED: N_("Later"),
    RESOLVED: N_("Resolved"),
}
ACTIVE: Final = (OPEN, PENDING, SNOOZED)
REASONS: Final = {
    "talk": N_("Asked to talk"),
    "checkin_help": N_("Check-in: needs help"),
    "no_consent_callback": N_("Callback request"),
    "unplaced": N_("Message the bot could not place"),
    "order_question": N_("Question about an order"),
    "service_not_received": N_("Service not received"),
    "service_partly_received": N_("Service partly received"),
}
CHANNELS: Final = {"telegram": N_("Telegram"), "webchat": N_("Web chat"), "phone": N_("By phone")}
MAX_TEXT: Final = 1000
RATING_QUESTION: Final = N_(
    "Your conversation with the desk is finished. How did it go? Please choose from 1 (not good) to 5 (very good)."
)
RATING_THANKS: Final = N_("Thank you for your answer.")
TAKEOVER_NOTE: Final = N_("{name} took over the conversation: {note}")
ASSIGNED_NOTE: Final = N_("Assigned to {name}.")
AUTO_ASSIGNED_NOTE: Final = N_("Assigned to {name} automatically.")
MSG_NOT_ASSIGNEE: Final = N_("Another operator is answering this conversation. Take it over with a note first.")
MSG_STALE: Final = N_("Someone else changed this conversation just now. Please look at it again.")
MSG_NOTE_NEEDED: Final = N_("Please write why you take the conversation over.")
MSG_EMPTY: Final = N_("Please write a message.")
MSG_SNOOZE_PAST: Final = N_("Please choose a time in the future.")
MSG_RESOLVED: Final = N_("This conversation is resolved. The person's next message opens a new one.")


# ------------------------------------------------------------------ settings and office time


async def get_settings_for(session: AsyncSession, *, district_id: int | None) -> InboxSetting:
    """Return the district's inbox settings (defaults when the admin has not set any)."""
    if district_id is not None:
        row = await session.get(InboxSetting, district_id)
        if row is not None:
            return row
    return InboxSetting(district_id=district_id or 0)


async def update_settings(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int,
    first_answer_minutes: int,
    assign_limit: int,
    office_start_minute: int,
    office_end_minute: int,
    auto_assign: bool,
) -> InboxSetting:
    """Store the district's inbox settings (admins of it) and return them."""
    access.check_admin()
    if not access.sees(district_id):
        raise NotFound()
    if not (1 <= first_answer_minutes <= 7 * 24 * 60 and 1 <= assign_limit <= 500):
        raise InvalidInput()
    if not (0 <= office_start_minute < office_end_minute <= 24 * 60):
        raise InvalidInput(N_("The office hours must start before they end."))
    row = await session.get(InboxSetting, district_id) or InboxSetting(district_id=district_id)
    row.first_answer_minutes = first_answer_minutes
    row.assign_limit = assign_limit
    row.office_start_minute = office_start_minute
    row.office_end_minute = office_end_minute
    row.auto_assign = auto_assign
    session.add(row)
    await session.flush()
    await access.log(session, action="inbox_settings", detail=f"district:{district_id}")
    return row


@functools.cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("KR", years=year)


def is_office_day(day: date) -> bool:
    """Return True on a weekday that is not a Korean public holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_office_minutes(start: datetime, minutes: int, *, setting: InboxSetting) -> datetime:
    """Return the moment `minutes` of office time after `start` (weekends and public holidays skipped)."""
    zone = clock.zone()
    local = start.astimezone(zone)
    left = minutes
    for _ in range(400):  # a year of days at most
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        opens = day_start + timedelta(minutes=setting.office_start_minute)
        closes = day_start + timedelta(minutes=setting.office_end_minute)
        if is_office_day(local.date()) and local < closes:
            begin = max(local, opens)
            room = (closes - begin).total_seconds() / 60
            if left <= room:
                return (begin + timedelta(minutes=left)).astimezone(start.tzinfo)
            left -= int(room)
        local = (day_start + timedelta(days=1)).replace(tzinfo=zone)
    return start + timedelta(minutes=minutes)


def first_answer_due(thread: DeskThread, setting: InboxSetting) -> datetime:
    """Return when the desk's first answer to the thread is due."""
    return add_office_minutes(thread.created_at, setting.first_answer_minutes, setting=setting)


def is_overdue(thread: DeskThread, setting: InboxSetting, now: datetime | None = None) -> bool:
    """Return True when an active thread still has no first answer and its time is past."""
    if thread.status == RESOLVED or thread.first_reply_at is not None:
        return False
    return (now or clock.now()) > first_answer_due(thread, setting)


# ------------------------------------------------------------------ incoming (the bot's side)


async def record_incoming(session: AsyncSession, *, thread: DeskThread, text: str, at: datetime | None = None) -> None:
    """Add the person's message to a thread: unread, waiting, and reopened when it was on hold or snoozed."""
    now = at or clock.now()
    session.add(DeskMessage(thread_id=thread.id, direction="in", text=text[:MAX_TEXT], at=now))  # type: ignore[arg-type]
    values: dict[str, Any] = {"updated_at": now, "last_in_at": now}
    if thread.waiting_since is None:
        values["waiting_since"] = now
    if thread.status in (PENDING, SNOOZED):
        values.update(status=OPEN, snoozed_until=None, version=col(DeskThread.version) + 1)
    await session.execute(update(DeskThread).where(col(DeskThread.id) == thread.id).values(**values))
    await session.flush()
    await session.refresh(thread)
    if thread.assignee_id is None:
        await auto_assign(session, thread=thread)


async def find_active(
    session: AsyncSession, *, channel: str, user_key: str, reason: str | None = None, order_id: int | None = None
) -> DeskThread | None:
    """Return the person's newest thread that is not resolved (of that reason, when given), or None."""
    query = select(DeskThread).where(
        col(DeskThread.channel) == channel,
        col(DeskThread.user_key) == user_key,
        col(DeskThread.status).in_(ACTIVE),
    )
    if reason is not None:
        query = query.where(col(DeskThread.reason) == reason)
    if order_id is not None:
        query = query.where(col(DeskThread.order_id) == order_id)
    return (await session.execute(query.order_by(col(DeskThread.id).desc()).limit(1))).scalar_one_or_none()


# ------------------------------------------------------------------ assignment


async def _signed_in_operators(session: AsyncSession, *, district_id: int | None) -> list[int]:
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    result = await session.execute(
        select(col(Operator.id))
        .join(OperatorSession, col(OperatorSession.operator_id) == col(Operator.id))
        .where(
            col(Operator.active).is_(True),
            col(Operator.role).in_(("operator", "admin")),
            col(Operator.district_id) == district_id,
            col(OperatorSession.revoked_at).is_(None),
            col(OperatorSession.last_seen_at) > clock.now() - idle,
        )
        .distinct()
    )
    return sorted(int(i) for i in result.scalars() if i is not None)


async def auto_assign(session: AsyncSession, *, thread: DeskThread) -> DeskThread:
    """Give an unassigned thread to the signed-in operator whose turn it is (round robin, under the limit)."""
    setting = await get_settings_for(session, district_id=thread.district_id)
    if not setting.auto_assign or thread.assignee_id is not None or thread.district_id is None:
        return thread
    candidates = await _signed_in_operators(session, district_id=thread.district_id)
    if not candidates:
        return thread
    held = dict(
        (
            await session.execute(
                select(col(DeskThread.assignee_id), func.count())
                .where(col(DeskThread.assignee_id).in_(candidates), col(DeskThread.status).in_(ACTIVE))
                .group_by(col(DeskThread.assignee_id))
            )
        ).all()
    )
    last = dict(
        (
            await session.execute(
                select(col(DeskThread.assignee_id), func.max(col(DeskThread.assigned_at)))
                .where(col(DeskThread.assignee_id).in_(candidates))
                .group_by(col(DeskThread.assignee_id))
            )
        ).all()
    )
    free = [op for op in candidates if held.get(op, 0) < setting.assign_limit]
    if not free:
        return thread
    # Round robin: the one whose last assignment is oldest (never assigned first), then by id.
    floor = datetime.min.replace(tzinfo=clock.now().tzinfo)
    chosen = min(free, key=lambda op: (last.get(op) or floor, op))
    await _guarded(session, thread, assignee_id=chosen, assigned_at=clock.now())
    name = await _operator_name(session, chosen)
    await _note(session, thread, gettext(AUTO_ASSIGNED_NOTE, name=name), operator_id=None)
    return thread


async def _guarded(session: AsyncSession, thread: DeskThread, **values: Any) -> None:
    """Apply a change only if nobody changed the thread since it was read; else ConflictError."""
    result = await session.execute(
        update(DeskThread)
        .where(col(DeskThread.id) == thread.id, col(DeskThread.version) == thread.version)
        .values(**values, version=thread.version + 1, updated_at=clock.now())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(MSG_STALE)
    await session.flush()
    await session.refresh(thread)


async def _operator_name(session: AsyncSession, operator_id: int | None) -> str:
    op = await session.get(Operator, operator_id) if operator_id else None
    return (op.display_name or op.username) if op else ""


async def _note(session: AsyncSession, thread: DeskThread, text: str, *, operator_id: int | None) -> None:
    session.add(DeskMessage(thread_id=thread.id, direction="note", text=text[:MAX_TEXT], operator_id=operator_id))  # type: ignore[arg-type]
    await session.flush()


# ------------------------------------------------------------------ reading


@dataclass
class Row:
    """One line of the inbox list."""

    thread: DeskThread
    resident: Resident | None
    last_text: str
    last_direction: str
    assignee: str
    unread: bool
    overdue: bool
    due: datetime
    waited_minutes: int | None


@dataclass
class Page:
    rows: list[Row]
    counts: dict[str, int]
    unread: int
    overdue: int
    mine: int


@dataclass
class ThreadView:
    thread: DeskThread
    resident: Resident | None
    order: Order | None
    orders: list[Order]
    messages: list[tuple[DeskMessage, str]]  # (message, operator name)
    assignee: str
    overdue: bool
    due: datetime
    can_reply: bool
    operators: list[Operator] = field(default_factory=list)


def _scope(access: Access) -> Any:
    return True if access.district_id is None else col(DeskThread.district_id) == access.district_id


async def wake_snoozed(session: AsyncSession, *, access: Access) -> int:
    """Reopen the district's snoozed threads whose time has come; return how many."""
    result = await session.execute(
        update(DeskThread)
        .where(
            _scope(access),
            col(DeskThread.status) == SNOOZED,
            col(DeskThread.snoozed_until) <= clock.now(),
        )
        .values(status=OPEN, snoozed_until=None, version=col(DeskThread.version) + 1)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _unread(t: DeskThread) -> bool:
    return t.last_in_at is not None and (t.read_at is None or t.last_in_at > t.read_at)


async def counts(session: AsyncSession, *, access: Access) -> dict[str, int]:
    """Return the inbox's figures for the navigation and the dashboard: unread, overdue, open, mine."""
    await wake_snoozed(session, access=access)
    threads = list(
        (
            await session.execute(select(DeskThread).where(_scope(access), col(DeskThread.status).in_((OPEN, PENDING))))
        ).scalars()
    )
    settings: dict[int | None, InboxSetting] = {}
    overdue = 0
    for t in threads:
        if t.district_id not in settings:
            settings[t.district_id] = await get_settings_for(session, district_id=t.district_id)
        overdue += is_overdue(t, settings[t.district_id])
    return {
        "unread": sum(1 for t in threads if t.status == OPEN and _unread(t)),
        "overdue": overdue,
        "open": sum(1 for t in threads if t.status == OPEN),
        "mine": sum(1 for t in threads if t.assignee_id == access.operator_id and access.operator_id is not None),
        "stamp": await list_stamp(session, access=access),
    }


async def list_stamp(session: AsyncSession, *, access: Access) -> int:
    """Return a number that changes whenever a conversation of the live list (open or waiting) changes."""
    latest = (
        await session.execute(
            select(func.max(col(DeskThread.updated_at))).where(
                _scope(access), col(DeskThread.status).in_((OPEN, PENDING))
            )
        )
    ).scalar_one_or_none()
    return int(latest.timestamp() * 1000) if latest else 0


async def list_threads(
    session: AsyncSession,
    *,
    access: Access,
    status: str | None = OPEN,
    mine: bool = False,
    unassigned: bool = False,
    overdue_only: bool = False,
    reason: str | None = None,
    order_id: int | None = None,
    limit: int = 100,
    log: bool = True,
) -> Page:
    """Return the district's threads (a status, or all active), oldest waiting first, and the figures."""
    await wake_snoozed(session, access=access)
    query = select(DeskThread).where(_scope(access))
    if status == "active":
        query = query.where(col(DeskThread.status).in_(ACTIVE))
    elif status:
        if status not in STATUSES:
            raise InvalidInput()
        query = query.where(col(DeskThread.status) == status)
    if mine:
        query = query.where(col(DeskThread.assignee_id) == access.operator_id)
    if unassigned:
        query = query.where(col(DeskThread.assignee_id).is_(None))
    if reason:
        query = query.where(col(DeskThread.reason) == reason)
    if order_id is not None:
        query = query.where(col(DeskThread.order_id) == order_id)
    query = query.order_by(
        col(DeskThread.waiting_since).is_(None), col(DeskThread.waiting_since), col(DeskThread.updated_at).desc()
    ).limit(limit)
    threads = list((await session.execute(query)).scalars())
    rows = await rows_for(session, threads=threads)
    if overdue_only:
        rows = [r for r in rows if r.overdue]
    figures = await counts(session, access=access)
    by_status = dict(
        (
            await session.execute(
                select(col(DeskThread.status), func.count()).where(_scope(access)).group_by(col(DeskThread.status))
            )
        ).all()
    )
    shown = sorted({r.thread.resident_id for r in rows if r.thread.resident_id is not None})
    if log and shown:
        await access.log(session, action="inbox_view", resident_ids=shown)
    return Page(
        rows=rows,
        counts={s: int(by_status.get(s, 0)) for s in STATUSES},
        unread=figures["unread"],
        overdue=figures["overdue"],
        mine=figures["mine"],
    )


async def rows_for(session: AsyncSession, *, threads: list[DeskThread]) -> list[Row]:
    """Return the list lines of these threads (the person, the last message, waiting, overdue)."""
    if not threads:
        return []
    ids = [t.id for t in threads]
    last_ids = (
        select(func.max(col(DeskMessage.id)))
        .where(col(DeskMessage.thread_id).in_(ids), col(DeskMessage.direction) != "note")
        .group_by(col(DeskMessage.thread_id))
    )
    last = {
        m.thread_id: m
        for m in (await session.execute(select(DeskMessage).where(col(DeskMessage.id).in_(last_ids)))).scalars()
    }
    residents = {
        r.id: r
        for r in (
            await session.execute(
                select(Resident).where(col(Resident.id).in_({t.resident_id for t in threads if t.resident_id}))
            )
        ).scalars()
    }
    names = {
        o.id: (o.display_name or o.username)
        for o in (
            await session.execute(
                select(Operator).where(col(Operator.id).in_({t.assignee_id for t in threads if t.assignee_id}))
            )
        ).scalars()
    }
    now = clock.now()
    settings: dict[int | None, InboxSetting] = {}
    rows = []
    for t in threads:
        if t.district_id not in settings:
            settings[t.district_id] = await get_settings_for(session, district_id=t.district_id)
        setting = settings[t.district_id]
        msg = last.get(t.id or 0)
        rows.append(
            Row(
                thread=t,
                resident=residents.get(t.resident_id) if t.resident_id else None,
                last_text=msg.text if msg else "",
                last_direction=msg.direction if msg else "",
                assignee=names.get(t.assignee_id, "") if t.assignee_id else "",
                unread=_unread(t),
                overdue=is_overdue(t, setting, now),
                due=first_answer_due(t, setting),
                waited_minutes=int((now - t.waiting_since).total_seconds() // 60) if t.waiting_since else None,
            )
        )
    return rows


async def _get(session: AsyncSession, *, access: Access, thread_id: int) -> DeskThread:
    thread = await session.get(DeskThread, thread_id, populate_existing=True)
    if thread is None:
        raise NotFound()
    if not access.sees(thread.district_id):
        raise OutOfDistrict(what="thread", thing_id=thread_id, resident_id=thread.resident_id)
    return thread


async def get(session: AsyncSession, *, access: Access, thread_id: int, mark_read: bool = True) -> ThreadView:
    """Return one thread with its messages, the person and their orders; marks it read and logs the view."""
    await wake_snoozed(session, access=access)
    thread = await _get(session, access=access, thread_id=thread_id)
    if mark_read and access.can_write:
        await session.execute(update(DeskThread).where(col(DeskThread.id) == thread.id).values(read_at=clock.now()))
        await session.refresh(thread)
    resident = await session.get(Resident, thread.resident_id) if thread.resident_id else None
    order = await session.get(Order, thread.order_id) if thread.order_id else None
    orders: list[Order] = []
    if resident is not None:
        orders = list(
            (
                await session.execute(
                    select(Order).where(col(Order.resident_id) == resident.id).order_by(col(Order.id).desc()).limit(20)
                )
            ).scalars()
        )
    msgs = list(
        (
            await session.execute(
                select(DeskMessage, Operator)
                .outerjoin(Operator, col(Operator.id) == col(DeskMessage.operator_id))
                .where(col(DeskMessage.thread_id) == thread.id)
                .order_by(col(DeskMessage.id))
            )
        ).all()
    )
    operators = list(
        (
            await session.execute(
                select(Operator)
                .where(
                    col(Operator.active).is_(True),
                    col(Operator.role).in_(("operator", "admin")),
                    col(Operator.district_id) == thread.district_id,
                )
                .order_by(col(Operator.username))
            )
        ).scalars()
    )
    setting = await get_settings_for(session, district_id=thread.district_id)
    await access.log(session, action="inbox_thread_view", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    return ThreadView(
        thread=thread,
        resident=resident,
        order=order,
        orders=orders,
        messages=[(m, (o.display_name or o.username) if o else "") for m, o in msgs],
        assignee=await _operator_name(session, thread.assignee_id),
        overdue=is_overdue(thread, setting),
        due=first_answer_due(thread, setting),
        can_reply=access.can_write and thread.assignee_id in (None, access.operator_id),
        operators=operators,
    )


async def list_for_order(session: AsyncSession, *, access: Access, order_id: int) -> list[Row]:
    """Return the threads about one order (for the order page; the order's view is logged there)."""
    threads = list(
        (
            await session.execute(
                select(DeskThread)
                .where(_scope(access), col(DeskThread.order_id) == order_id)
                .order_by(col(DeskThread.id).desc())
            )
        ).scalars()
    )
    return await rows_for(session, threads=threads)


# ------------------------------------------------------------------ acting


def _check_version(thread: DeskThread, expected: int | None) -> None:
    if expected is not None and expected != thread.version:
        raise ConflictError(MSG_STALE)


async def reply(
    session: AsyncSession, *, access: Access, thread_id: int, text: str, canned: dict[str, str] | None = None
) -> DeskMessage:
    """Send the desk's answer to the person through the outbox and return the message.

    An unassigned thread becomes the replier's; another operator's thread needs a take-over first.
    `/code` at the start of the text is replaced by that canned reply.
    """
    access.check_writer()
    thread = await _get(session, access=access, thread_id=thread_id)
    if thread.status == RESOLVED:
        raise InvalidInput(MSG_RESOLVED)
    if thread.assignee_id is not None and thread.assignee_id != access.operator_id:
        raise PermissionDenied(MSG_NOT_ASSIGNEE)
    body = await expand_canned(session, district_id=thread.district_id, text=text, canned=canned)
    if not body:
        raise InvalidInput(MSG_EMPTY)
    parsing.refuse_registration_number(body)
    now = clock.now()
    values: dict[str, Any] = {"waiting_since": None, "read_at": now}
    if thread.first_reply_at is None:
        values["first_reply_at"] = now
    if thread.assignee_id is None:
        values.update(assignee_id=access.operator_id, assigned_at=now)
    await _guarded(session, thread, **values)
    message = DeskMessage(thread_id=thread.id, direction="out", text=body[:MAX_TEXT], operator_id=access.operator_id)  # type: ignore[arg-type]
    session.add(message)
    if thread.channel != "phone":
        await outbox.enqueue(
            session,
            district_id=thread.district_id,
            channel=thread.channel,
            chat_id=thread.user_key,
            text=body[:MAX_TEXT],
            kind="desk_reply",
            ref=f"desk:{thread.id}",
            resident_id=thread.resident_id,
        )
    await access.log(session, action="inbox_reply", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    await session.flush()
    return message


async def add_note(session: AsyncSession, *, access: Access, thread_id: int, text: str) -> DeskMessage:
    """Add an internal note (the person never sees it) and return it."""
    access.check_writer()
    thread = await _get(session, access=access, thread_id=thread_id)
    body = text.strip()
    if not body:
        raise InvalidInput(MSG_EMPTY)
    parsing.refuse_registration_number(body)
    message = DeskMessage(thread_id=thread.id, direction="note", text=body[:MAX_TEXT], operator_id=access.operator_id)  # type: ignore[arg-type]
    session.add(message)
    await access.log(session, action="inbox_note", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    await session.flush()
    return message


async def assign(
    session: AsyncSession, *, access: Access, thread_id: int, operator_id: int | None, expected_version: int | None
) -> DeskThread:
    """Give the thread to an operator of its district (None: nobody) and return it; stale versions conflict."""
    access.check_writer()
    thread = await _get(session, access=access, thread_id=thread_id)
    _check_version(thread, expected_version)
    name = ""
    if operator_id is not None:
        op = await session.get(Operator, operator_id)
        if op is None or not op.active or op.district_id != thread.district_id or op.role == "viewer":
            raise NotFound()
        name = op.display_name or op.username
    await _guarded(session, thread, assignee_id=operator_id, assigned_at=clock.now() if operator_id else None)
    if operator_id is not None:
        await _note(session, thread, gettext(ASSIGNED_NOTE, name=name), operator_id=access.operator_id)
    await access.log(session, action="inbox_assign", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    return thread


async def take_over(
    session: AsyncSession, *, access: Access, thread_id: int, note: str, expected_version: int | None
) -> DeskThread:
    """Make the thread the caller's, with a note everyone on the desk sees; return it."""
    access.check_writer()
    thread = await _get(session, access=access, thread_id=thread_id)
    _check_version(thread, expected_version)
    body = note.strip()
    if not body:
        raise InvalidInput(MSG_NOTE_NEEDED)
    parsing.refuse_registration_number(body)
    await _guarded(session, thread, assignee_id=access.operator_id, assigned_at=clock.now())
    name = await _operator_name(session, access.operator_id)
    await _note(session, thread, gettext(TAKEOVER_NOTE, name=name, note=body), operator_id=access.operator_id)
    await access.log(session, action="inbox_take_over", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    return thread


async def set_status(
    session: AsyncSession,
    *,
    access: Access,
    thread_id: int,
    status: str,
    expected_version: int | None,
    until: datetime | None = None,
) -> DeskThread:
    """Open, put on hold, snooze (until a time) or resolve the thread and return it.

    Resolving asks the person once, through the outbox, how it went (1–5 buttons).
    """
    access.check_writer()
    if status not in STATUSES:
        raise InvalidInput()
    thread = await _get(session, access=access, thread_id=thread_id)
    _check_version(thread, expected_version)
    now = clock.now()
    values: dict[str, Any] = {"status": status, "snoozed_until": None}
    if status == SNOOZED:
        if until is None or until <= now:
            raise InvalidInput(MSG_SNOOZE_PAST)
        values["snoozed_until"] = until
    if status == RESOLVED:
        values.update(resolved_at=now, waiting_since=None)
        if thread.rating_asked_at is None and thread.channel != "phone":
            values["rating_asked_at"] = now
            await outbox.enqueue(
                session,
                district_id=thread.district_id,
                channel=thread.channel,
                chat_id=thread.user_key,
                text=gettext(RATING_QUESTION),
                buttons=[[{"text": str(n), "data": f"dr:{thread.id}:{n}"} for n in range(1, 6)]],
                kind="desk_rating",
                ref=f"desk:{thread.id}",
                resident_id=thread.resident_id,
            )
    await _guarded(session, thread, **values)
    await access.log(
        session, action="inbox_status", resident_id=thread.resident_id, detail=f"thread:{thread.id} {status}"
    )
    return thread


async def link_order(session: AsyncSession, *, access: Access, thread_id: int, order_id: int | None) -> DeskThread:
    """Link the thread to an order of its district (None: unlink) and return it."""
    access.check_writer()
    thread = await _get(session, access=access, thread_id=thread_id)
    if order_id is not None:
        order = await session.get(Order, order_id)
        if order is None or order.district_id != thread.district_id or not access.sees(order.district_id):
            raise NotFound()
        if thread.resident_id is None:
            thread.resident_id = order.resident_id
    thread.order_id = order_id
    thread.updated_at = clock.now()
    session.add(thread)
    await session.flush()
    await access.log(session, action="inbox_link_order", resident_id=thread.resident_id, detail=f"thread:{thread.id}")
    return thread


async def rate(session: AsyncSession, *, thread_id: int, score: int, channel: str, user_key: str) -> DeskThread:
    """Record the person's 1–5 answer about a resolved conversation (only the chat that was asked)."""
    if score not in range(1, 6):
        raise InvalidInput()
    thread = await session.get(DeskThread, thread_id, populate_existing=True)
    if thread is None or thread.rating_asked_at is None:
        raise NotFound()
    if thread.channel != channel or thread.user_key != user_key:
        raise PermissionDenied()
    thread.rating = score
    session.add(thread)
    await session.flush()
    return thread


# ------------------------------------------------------------------ canned replies


async def list_canned(session: AsyncSession, *, district_id: int | None) -> list[CannedReply]:
    """Return the district's canned replies by code."""
    if district_id is None:
        return []
    result = await session.execute(
        select(CannedReply).where(col(CannedReply.district_id) == district_id).order_by(col(CannedReply.code))
    )
    return list(result.scalars())


async def expand_canned(
    session: AsyncSession, *, district_id: int | None, text: str, canned: dict[str, str] | None = None
) -> str:
    """Return the text with a leading `/code` replaced by that canned reply (unknown codes stay as typed)."""
    body = text.strip()
    if not body.startswith("/"):
        return body
    code, _, rest = body[1:].partition(" ")
    table = (
        canned if canned is not None else {c.code: c.text for c in await list_canned(session, district_id=district_id)}
    )
    if code in table:
        return (table[code] + (" " + rest.strip() if rest.strip() else "")).strip()
    return body


async def save_canned(
    session: AsyncSession, *, access: Access, district_id: int, code: str, text: str
) -> CannedReply | None:
    """Add or change a canned reply (empty text deletes it); return it, or None when deleted."""
    access.check_admin()
    if not access.sees(district_id):
        raise NotFound()
    code = code.strip().lstrip("/")
    if not code or len(code) > 20 or not all(ch.isalnum() or ch in "-_" for ch in code):
        raise InvalidInput(N_("A short code is letters or digits, up to 20."))
    parsing.refuse_registration_number(text)
    row = (
        await session.execute(
            select(CannedReply).where(col(CannedReply.district_id) == district_id, col(CannedReply.code) == code)
        )
    ).scalar_one_or_none()
    await access.log(session, action="canned_reply_update", detail=f"/{code}")
    if not text.strip():
        if row is not None:
            await session.delete(row)
            await session.flush()
        return None
    row = row or CannedReply(district_id=district_id, code=code, text="")
    row.text = text.strip()[:MAX_TEXT]
    row.updated_at = clock.now()
    session.add(row)
    await session.flush()
    return row


def reason_label(reason: str, locale: str | None = None) -> str:
    """Return the Korean name of why a thread was opened."""
    return gettext(REASONS[reason], locale) if reason in REASONS else reason


def status_label(status: str, locale: str | None = None) -> str:
    """Return the Korean name of a thread status."""
    return gettext(STATUSES[status], locale) if status in STATUSES else status


def channel_label(channel: str, locale: str | None = None) -> str:
    """Return the name of a channel."""
    return gettext(CHANNELS[channel], locale) if channel in CHANNELS else channel


# ------------------------------------------------------------------ care managers and providers ask about an order


async def orders_to_ask_about(session: AsyncSession, *, channel: str, user_key: str, limit: int = 8) -> list[Order]:
    """Return the recent orders a bound care manager (their referrals) or provider (their assignments) may ask about."""
    from care import invites

    binding = await invites.get_binding(session, channel=channel, user_key=user_key)
    if binding is None:
        raise PermissionDenied()
    query = select(Order)
    if binding.role == "care_manager" and binding.care_manager_id is not None:
        query = query.join(Referral, col(Referral.id) == col(Order.referral_id)).where(
            col(Referral.care_manager_id) == binding.care_manager_id
        )
    elif binding.role == "provider_staff" and binding.provider_id is not None:
        query = query.where(
            col(Order.id).in_(
                select(col(Assignment.order_id)).where(col(Assignment.provider_id) == binding.provider_id)
            )
        )
    else:
        raise PermissionDenied()
    result = await session.execute(query.order_by(col(Order.id).desc()).limit(limit))
    return list(result.scalars())


async def ask_about_order(
    session: AsyncSession, *, channel: str, user_key: str, order_id: int, text: str
) -> DeskThread:
    """Post a care manager's or provider's message about one of their orders to the desk; return the thread."""
    from care import intake

    mine = {o.id: o for o in await orders_to_ask_about(session, channel=channel, user_key=user_key, limit=200)}
    order = mine.get(order_id)
    if order is None:
        raise NotFound()
    return await intake.post_to_desk(
        session,
        channel=channel,
        user_key=user_key,
        text=text,
        reason="order_question",
        district_id=order.district_id,
        order_id=order_id,
        resident_id=order.resident_id,
    )


async def thread_stamp(session: AsyncSession, *, access: Access, thread_id: int) -> int:
    """Return a number that changes whenever the thread gets a message or changes (0 when not visible)."""
    thread = await session.get(DeskThread, thread_id)
    if thread is None or not access.sees(thread.district_id):
        return 0
    last = (
        await session.execute(select(func.max(col(DeskMessage.id))).where(col(DeskMessage.thread_id) == thread_id))
    ).scalar_one_or_none()
    return int(last or 0) * 1000 + thread.version
