"""Every visit recorded: each delivery or visit of an order on its day, or a no-show (무단결석).

A provider records them in the bot (오늘 1식 전달 / 3시간 방문 / 이용자 부재·무단결석 with a reason),
or the desk does for them. The order's delivered units are the sum of its visits; completing from
visits closes the order with that sum. A no-show is never billed (0 units) and is shown to the
desk; three no-shows in a row raise a desk notice. Visits carry their date, so a month's
settlement can split an order that spans two months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import months, orders, parsing
from care.actors import Actor
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, RuleViolation
from dolbom.i18n import N_, gettext
from storage import orders as order_store
from storage.models import DeskNotice, Order, Visit

KINDS = ("delivered", "no_show")
NO_SHOW_STREAK = 3
# Orders a visit can be recorded on: accepted (the first visit starts it) or in progress.
VISITABLE = (Status.ACCEPTED.value, Status.IN_PROGRESS.value)
STREAK_TITLE = N_("{receipt_no}: {n} no-shows in a row")
STREAK_BODY = N_("The person was not there or did not take the service {n} times in a row. Please call them.")
MSG_ALREADY_TODAY = N_("This day is recorded already for this order. Nothing was added.")
# Why a no-show (이용자 부재·무단결석): buttons in the bot; "other" needs words.
NO_SHOW_REASONS = {
    "absent": N_("Not at home"),
    "no_show": N_("No-show without notice"),
    "hospital": N_("In hospital"),
    "refused": N_("Refused the service"),
    "other": N_("Other"),
}
# What one tap in the bot records, per service: a meal, a 3-hour visit, a day; hour services choose hours.
HOUR_SERVICES = ("escort", "housing")
HOUR_CHOICES = (1, 2, 3, 4)


def tap_units(service_code: str) -> tuple[int, ...]:
    """Return the units one tap of the bot may record for a service (1, or a choice of hours)."""
    return HOUR_CHOICES if service_code in HOUR_SERVICES else (1,)


def no_show_reason(reason_code: str, text: str | None = None) -> str:
    """Return the no-show reason as kept: the label in Korean, with the typed words."""
    if reason_code not in NO_SHOW_REASONS:
        raise InvalidInput(N_("That answer could not be understood."))
    words = (text or "").strip()
    if words:
        parsing.refuse_registration_number(words)
    if reason_code == "other" and not words:
        raise InvalidInput(N_("Please say why the service could not be given."))
    label = gettext(NO_SHOW_REASONS[reason_code], "ko")
    return f"{label}: {words[:200]}" if words else label


async def list_for_order(session: AsyncSession, *, order_id: int) -> list[Visit]:
    """Return the order's visits by day, then as recorded."""
    return list(
        (
            await session.execute(
                select(Visit).where(col(Visit.order_id) == order_id).order_by(col(Visit.day), col(Visit.id))
            )
        ).scalars()
    )


def delivered(visits: list[Visit]) -> int:
    """Return the units delivered by the visits (no-shows count nothing)."""
    return sum(v.units for v in visits if v.kind == "delivered")


@dataclass(frozen=True)
class Recorded:
    visit: Visit
    delivered_total: int
    no_show_streak: int
    notice: DeskNotice | None


async def record(
    session: AsyncSession,
    *,
    order_id: int,
    day: date,
    units: int,
    kind: str,
    actor: Actor,
    reason: str | None = None,
    provider_id: int | None = None,
) -> Recorded:
    """Record one visit (or a no-show with its reason) on the order; return it with the order's totals.

    provider_id: the provider recording it must hold the order's current assignment, and records
    one visit per order and day (a double tap adds nothing: MSG_ALREADY_TODAY). Every visit bumps
    the order's version, so two recordings at once cannot both pass that check, and a completion
    that read the order before a visit was added conflicts instead of closing without it.
    """
    if kind not in KINDS:
        raise InvalidInput(N_("That answer could not be understood."))
    reason = (reason or "").strip() or None
    if kind == "no_show":
        if reason is None:
            raise InvalidInput(N_("Please say why the service could not be given."))
        units = 0
    elif units < 1:
        raise InvalidInput(N_("Please give at least one unit."))
    if day > clock.local_now().date():
        raise InvalidInput(N_("A visit cannot be recorded for a day still to come."))
    order = await orders.get(session, order_id=order_id)
    assert order.id is not None
    seen = order.version
    await months.check_open(session, district_id=order.district_id, day=day)  # a closed month never changes
    if order.status not in VISITABLE:
        raise RuleViolation(N_("Visits can be recorded only on an accepted order that is not finished."))
    current = await order_store.current_assignment(session, order_id)
    if provider_id is not None and (current is None or current.provider_id != provider_id):
        raise RuleViolation(N_("This assignment is not yours."))
    once_a_day = provider_id is not None
    if once_a_day and await _recorded_on(session, order_id=order_id, day=day):
        raise RuleViolation(MSG_ALREADY_TODAY)
    try:
        if order.status == Status.ACCEPTED.value:  # the first visit starts the order (진행)
            order = await orders.start(session, order_id=order_id, actor=actor, expected_version=seen)
            seen = order.version
        # The guard: only the recording that still sees the version it checked adds its visit.
        if not await order_store.update_versioned(
            session, order_id=order_id, expected_version=seen, values={"updated_at": clock.now()}
        ):
            raise ConflictError()
    except ConflictError:
        # The other tap won (its visit is committed now): say so rather than "changed meanwhile".
        if once_a_day and await _recorded_on(session, order_id=order_id, day=day):
            raise RuleViolation(MSG_ALREADY_TODAY) from None
        raise
    visit = Visit(
        district_id=order.district_id,
        order_id=order_id,
        resident_id=order.resident_id,
        provider_id=current.provider_id if current else provider_id,
        day=day,
        units=units,
        kind=kind,
        reason=reason,
        recorded_by_kind="provider" if actor.kind == "provider" else "operator",
        recorded_by_name=actor.name,
    )
    session.add(visit)
    await session.flush()
    visits = await list_for_order(session, order_id=order_id)
    streak = no_show_streak(visits)
    notice = None
    if kind == "no_show" and streak == NO_SHOW_STREAK:
        notice = DeskNotice(
            district_id=order.district_id,
            kind="no_show_streak",
            order_id=order_id,
            title=gettext(STREAK_TITLE, None, receipt_no=order.receipt_no, n=streak),
            body=gettext(STREAK_BODY, None, n=streak),
        )
        session.add(notice)
        await session.flush()
    return Recorded(visit=visit, delivered_total=delivered(visits), no_show_streak=streak, notice=notice)


async def _recorded_on(session: AsyncSession, *, order_id: int, day: date) -> bool:
    result = await session.execute(
        select(col(Visit.id)).where(col(Visit.order_id) == order_id, col(Visit.day) == day).limit(1)
    )
    return result.first() is not None


def no_show_streak(visits: list[Visit]) -> int:
    """Return how many of the latest visits (by day) in a row were no-shows."""
    n = 0
    for v in reversed(visits):
        if v.kind != "no_show":
            break
        n += 1
    return n


async def complete_from_visits(
    session: AsyncSession, *, order_id: int, actor: Actor, note: str | None = None, approved_over_plan: bool = False
) -> Order:
    """Close the order (완료) with the units its visits delivered; return it."""
    visits = await list_for_order(session, order_id=order_id)
    if not visits:
        raise RuleViolation(N_("Record the visits first: the delivered units are their sum."))
    return await orders.complete(
        session,
        order_id=order_id,
        delivered_units=delivered(visits),
        actor=actor,
        note=note,
        approved_over_plan=approved_over_plan,
    )
