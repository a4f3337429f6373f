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

from care import months, orders
from care.actors import Actor
from care.lifecycle import Status
from dolbom import clock
from dolbom.errors import InvalidInput, RuleViolation
from dolbom.i18n import N_, gettext
from storage import orders as order_store
from storage.models import DeskNotice, Order, Visit

KINDS = ("delivered", "no_show")
NO_SHOW_STREAK = 3
# Orders a visit can be recorded on: accepted (the first visit starts it) or in progress.
VISITABLE = (Status.ACCEPTED.value, Status.IN_PROGRESS.value)
STREAK_TITLE = N_("{receipt_no}: {n} no-shows in a row")
STREAK_BODY = N_("The person was not there or did not take the service {n} times in a row. Please call them.")


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

    provider_id: the provider recording it must hold the order's current assignment.
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
    await months.check_open(session, district_id=order.district_id, day=day)  # a closed month never changes
    if order.status not in VISITABLE:
        raise RuleViolation(N_("Visits can be recorded only on an accepted order that is not finished."))
    current = await order_store.current_assignment(session, order_id)
    if provider_id is not None and (current is None or current.provider_id != provider_id):
        raise RuleViolation(N_("This assignment is not yours."))
    if order.status == Status.ACCEPTED.value:  # the first visit starts the order (진행)
        order = await orders.start(session, order_id=order_id, actor=actor)
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
