"""What a provider's staff do with their assignments: accept, decline, start, record each visit, complete.

A provider only ever sees and acts on its own organisation's assignments: an assignment of
another provider (a forged button) is refused with PermissionDenied and written to the access
log first, in the caller's transaction (the edge commits after showing the refusal).
Every step goes through care.orders (lifecycle, caps) and into the order history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import labels, order_notices, orders, parsing, visits
from care.actors import Actor
from dolbom import clock
from dolbom.errors import CapExceeded, InvalidInput, NotFound, PermissionDenied, RuleViolation
from dolbom.i18n import N_, gettext
from storage import audit
from storage.models import Assignment, DeskNotice, Order, Provider, Visit

log = logging.getLogger(__name__)

DECLINE_REASONS: Final = {
    "staff": N_("Not enough staff"),
    "schedule": N_("Cannot make the date"),
    "area": N_("Outside our area"),
    "other": N_("Other"),
}
MSG_NOT_YOURS: Final = N_("This assignment is not for your organisation.")
MSG_NOT_WAITING: Final = N_("This assignment is not waiting for your answer.")
MSG_NOT_ACCEPTED: Final = N_("This order is not accepted by your organisation, or it has been taken back.")
MSG_NEEDS_APPROVAL: Final = N_(
    "More units than planned or than the resident's limit need the desk's approval. "
    "The desk has been told and will record it. Nothing is recorded until then."
)
MSG_APPROVAL_TITLE: Final = N_("{receipt_no}: {provider} delivered {units}, more than the plan or the limit")
MSG_APPROVAL_BODY: Final = N_("Planned {planned}. Note: {note}. Check it and complete the order with approval.")
MSG_START_FIRST: Final = N_("Please press Start first, then Complete.")
MSG_OTHER_TEXT: Final = N_("Please write the reason in a few words.")
MSG_DECLINED_TITLE: Final = N_("Assignment declined: {receipt_no} ({provider})")
MSG_PAUSED: Final = N_("Your organisation's account is paused. Please ask the desk.")


@dataclass
class AssignmentView:
    """An assignment as its provider sees it; the card holds address and phone only after 수락."""

    assignment: Assignment
    order: Order
    card: str

    @property
    def revealed(self) -> bool:
        return self.assignment.status == "accepted"


def actor_for(provider: Provider, *, channel: str, staff_name: str | None = None) -> Actor:
    """Return the actor written into order history for a provider's step."""
    name = f"{provider.name} ({staff_name})" if staff_name else provider.name
    return Actor(kind="provider", id=provider.id, name=name, channel=channel)


async def refuse_non_staff(session: AsyncSession, *, channel: str, user_key: str, assignment_id: int) -> None:
    """Log an assignment button pressed by an account that is not a provider's staff (nothing else happens)."""
    await audit.record(
        session,
        action="provider_refused",
        username=f"{channel}:{user_key}",
        detail=f"assignment {assignment_id}: not provider staff",
    )
    log.warning("assignment button %s pressed by an account that is not provider staff", assignment_id)


async def get_provider(session: AsyncSession, *, provider_id: int) -> Provider:
    """Return an active provider; raise PermissionDenied when paused or gone."""
    provider = await session.get(Provider, provider_id)
    if provider is None or not provider.active:
        raise PermissionDenied(MSG_PAUSED)
    return provider


async def _own(session: AsyncSession, *, provider_id: int, assignment_id: int) -> Assignment:
    """Return the provider's own assignment; another's is logged and refused."""
    assignment = await session.get(Assignment, assignment_id, populate_existing=True)
    if assignment is None:
        raise NotFound()
    if assignment.provider_id != provider_id:
        order = await session.get(Order, assignment.order_id)
        await audit.record(
            session,
            action="provider_refused",
            username=f"provider:{provider_id}",
            resident_id=order.resident_id if order else None,
            detail=f"assignment {assignment_id} belongs to provider {assignment.provider_id}",
        )
        log.warning(
            "provider %s refused assignment %s of provider %s", provider_id, assignment_id, assignment.provider_id
        )
        raise PermissionDenied(MSG_NOT_YOURS)
    return assignment


async def _view(session: AsyncSession, assignment: Assignment) -> AssignmentView:
    order = await orders.get(session, order_id=assignment.order_id)
    reveal = assignment.status == "accepted"
    if reveal:
        await audit.record(
            session,
            action="provider_view",
            username=f"provider:{assignment.provider_id}",
            resident_id=order.resident_id,
            detail=f"assignment {assignment.id}",
        )
    card = await order_notices.assignment_card(session, assignment=assignment, order=order, reveal=reveal)
    return AssignmentView(assignment=assignment, order=order, card=card)


async def get(session: AsyncSession, *, provider_id: int, assignment_id: int) -> AssignmentView:
    """Return the provider's own assignment as they may see it."""
    await get_provider(session, provider_id=provider_id)
    return await _view(session, await _own(session, provider_id=provider_id, assignment_id=assignment_id))


async def list_assignments(
    session: AsyncSession, *, provider_id: int, statuses: tuple[str, ...] = ("pending", "accepted")
) -> list[AssignmentView]:
    """Return the provider's assignments in these statuses (waiting first, then by date)."""
    await get_provider(session, provider_id=provider_id)
    rows = (
        await session.execute(
            select(Assignment)
            .where(Assignment.provider_id == provider_id, col(Assignment.status).in_(statuses))
            .order_by(col(Assignment.assigned_at), col(Assignment.id))
        )
    ).scalars()
    views = [await _view(session, a) for a in rows]
    views.sort(key=lambda v: (v.assignment.status != "pending", v.order.requested_date or date.min, v.order.id or 0))
    return views


async def list_today(session: AsyncSession, *, provider_id: int, days: int = 7) -> list[AssignmentView]:
    """Return 오늘 할 일: accepted orders (not started or in progress) due by today + days, by date."""
    await get_provider(session, provider_id=provider_id)
    until = clock.today() + timedelta(days=days)
    rows = (
        await session.execute(
            select(Assignment)
            .join(Order, col(Order.id) == col(Assignment.order_id))
            .where(
                col(Assignment.provider_id) == provider_id,
                col(Assignment.status) == "accepted",
                col(Order.status).in_(["accepted", "in_progress"]),
                or_(col(Order.requested_date).is_(None), col(Order.requested_date) <= until),
            )
            .order_by(col(Order.requested_date), col(Order.id))
        )
    ).scalars()
    views = [await _view(session, a) for a in rows]
    views.sort(key=lambda v: (v.order.requested_date or clock.today(), v.order.id or 0))
    return views


async def accept(session: AsyncSession, *, provider_id: int, assignment_id: int, actor: Actor) -> AssignmentView:
    """Accept (수락) the provider's pending assignment and return it with address and phone."""
    await get_provider(session, provider_id=provider_id)
    assignment = await _own(session, provider_id=provider_id, assignment_id=assignment_id)
    if assignment.status != "pending":
        raise RuleViolation(MSG_NOT_WAITING)
    await orders.accept(session, order_id=assignment.order_id, provider_id=provider_id, actor=actor)
    await session.refresh(assignment)
    return await _view(session, assignment)


def decline_reason(reason_code: str, text: str | None = None) -> str:
    """Return the reason written into history: the label in Korean, with the typed words."""
    if reason_code not in DECLINE_REASONS:
        raise InvalidInput(N_("That answer could not be understood."))
    label = gettext(DECLINE_REASONS[reason_code], "ko")
    words = (text or "").strip()
    if words:
        parsing.refuse_registration_number(words)
    if reason_code == "other" and not words:
        raise InvalidInput(MSG_OTHER_TEXT)
    return f"{label}: {words[:200]}" if words else label


async def decline(
    session: AsyncSession,
    *,
    provider_id: int,
    assignment_id: int,
    reason_code: str,
    text: str | None = None,
    actor: Actor,
) -> Order:
    """Decline (거절) a pending assignment with a reason: the order goes back to the desk's queue (검토)."""
    await get_provider(session, provider_id=provider_id)
    assignment = await _own(session, provider_id=provider_id, assignment_id=assignment_id)
    if assignment.status != "pending":
        raise RuleViolation(MSG_NOT_WAITING)
    reason = decline_reason(reason_code, text)
    order = await orders.return_to_desk(
        session,
        order_id=assignment.order_id,
        reason=reason,
        actor=actor,
        assignment_status="declined",
        assignment_id=assignment.id,
    )
    # The desk is told: the order is back in its queue (검토) and a notice says who declined and why.
    provider = await session.get(Provider, provider_id)
    session.add(
        DeskNotice(
            district_id=order.district_id,
            kind="assignment_declined",
            order_id=order.id,
            title=gettext(
                MSG_DECLINED_TITLE, None, receipt_no=order.receipt_no, provider=provider.name if provider else "-"
            ),
            body=reason,
        )
    )
    await session.flush()
    return order


async def _accepted(session: AsyncSession, *, provider_id: int, assignment_id: int) -> Assignment:
    await get_provider(session, provider_id=provider_id)
    assignment = await _own(session, provider_id=provider_id, assignment_id=assignment_id)
    if assignment.status != "accepted":
        raise RuleViolation(MSG_NOT_ACCEPTED)
    return assignment


async def start(session: AsyncSession, *, provider_id: int, assignment_id: int, actor: Actor) -> Order:
    """Record that delivery has begun (진행 시작) and return the order."""
    assignment = await _accepted(session, provider_id=provider_id, assignment_id=assignment_id)
    # The order is read after the assignment check; if the desk took it back since, the version differs.
    order = await orders.get(session, order_id=assignment.order_id)
    assert assignment.id is not None
    current = await orders.get_current_assignment(session, order_id=order.id)  # type: ignore[arg-type]
    if current is None or current.id != assignment.id:
        raise RuleViolation(MSG_NOT_ACCEPTED)
    return await orders.start(session, order_id=assignment.order_id, actor=actor, expected_version=order.version)


async def complete(
    session: AsyncSession,
    *,
    provider_id: int,
    assignment_id: int,
    delivered_units: int,
    note: str | None,
    actor: Actor,
) -> Order:
    """Record completion (완료) with the units delivered; above the plan or the cap is refused (desk approves)."""
    assignment = await _accepted(session, provider_id=provider_id, assignment_id=assignment_id)
    if delivered_units < 1:
        raise InvalidInput(N_("Please give at least one unit."))
    if note is not None:
        parsing.refuse_registration_number(note)
        note = note.strip()[:500] or None
    order = await orders.get(session, order_id=assignment.order_id)
    if order.status != "in_progress":
        raise RuleViolation(MSG_START_FIRST)
    current = await orders.get_current_assignment(session, order_id=assignment.order_id)
    if current is None or current.id != assignment.id:
        raise RuleViolation(MSG_NOT_ACCEPTED)
    return await _close(session, order=order, provider_id=provider_id, units=delivered_units, note=note, actor=actor)


async def _close(
    session: AsyncSession, *, order: Order, provider_id: int, units: int, note: str | None, actor: Actor
) -> Order:
    """Complete the order with the units delivered; above the plan or the cap asks the desk and is refused."""
    assert order.id is not None
    if units > order.units:
        await _ask_approval(session, order=order, provider_id=provider_id, units=units, note=note)
        raise RuleViolation(MSG_NEEDS_APPROVAL)
    try:
        return await orders.complete(
            session, order_id=order.id, delivered_units=units, actor=actor, note=note, expected_version=order.version
        )
    except CapExceeded:
        await _ask_approval(session, order=order, provider_id=provider_id, units=units, note=note)
        raise RuleViolation(MSG_NEEDS_APPROVAL) from None


async def _ask_approval(session: AsyncSession, *, order: Order, provider_id: int, units: int, note: str | None) -> None:
    # The provider's flow shows the refusal and commits, so the desk's notice is kept.
    provider = await session.get(Provider, provider_id)
    session.add(
        DeskNotice(
            district_id=order.district_id,
            kind="approval_needed",
            order_id=order.id,
            title=gettext(
                MSG_APPROVAL_TITLE,
                None,
                receipt_no=order.receipt_no,
                provider=provider.name if provider else "-",
                units=labels.quantity(order.service_code, units),
            ),
            body=gettext(
                MSG_APPROVAL_BODY, None, planned=labels.quantity(order.service_code, order.units), note=note or "-"
            ),
        )
    )
    await session.flush()


async def record_visit(
    session: AsyncSession,
    *,
    provider_id: int,
    assignment_id: int,
    kind: str,
    actor: Actor,
    units: int = 1,
    reason_code: str | None = None,
    text: str | None = None,
) -> visits.Recorded:
    """Record today's delivery or visit (or a no-show with its reason) on the provider's own accepted order."""
    assignment = await _accepted(session, provider_id=provider_id, assignment_id=assignment_id)
    order = await orders.get(session, order_id=assignment.order_id)
    current = await orders.get_current_assignment(session, order_id=assignment.order_id)
    if current is None or current.id != assignment.id:
        raise RuleViolation(MSG_NOT_ACCEPTED)
    reason = None
    if kind == "no_show":
        reason = visits.no_show_reason(reason_code or "", text)
        units = 0
    elif units not in visits.tap_units(order.service_code):
        raise InvalidInput(N_("That answer could not be understood."))
    return await visits.record(
        session,
        order_id=assignment.order_id,
        day=clock.today(),
        units=units,
        kind=kind,
        reason=reason,
        actor=actor,
        provider_id=provider_id,
    )


async def visits_of(session: AsyncSession, *, provider_id: int, assignment_id: int) -> list[Visit]:
    """Return the visits of the provider's own assignment's order, by day."""
    assignment = await _own(session, provider_id=provider_id, assignment_id=assignment_id)
    return await visits.list_for_order(session, order_id=assignment.order_id)


async def complete_from_visits(
    session: AsyncSession, *, provider_id: int, assignment_id: int, note: str | None, actor: Actor
) -> Order:
    """Close (완료) the provider's own order with the units its visits delivered; over the plan needs the desk."""
    assignment = await _accepted(session, provider_id=provider_id, assignment_id=assignment_id)
    if note is not None:
        parsing.refuse_registration_number(note)
        note = note.strip()[:500] or None
    order = await orders.get(session, order_id=assignment.order_id)
    if order.status != "in_progress":
        raise RuleViolation(MSG_START_FIRST)
    current = await orders.get_current_assignment(session, order_id=assignment.order_id)
    if current is None or current.id != assignment.id:
        raise RuleViolation(MSG_NOT_ACCEPTED)
    rows = await visits.list_for_order(session, order_id=order.id)  # type: ignore[arg-type]
    units = visits.delivered(rows)
    if not rows or units < 1:
        raise RuleViolation(N_("Record the visits first: the delivered units are their sum."))
    return await _close(session, order=order, provider_id=provider_id, units=units, note=note, actor=actor)
