"""Orders (신청): create them and move them through the lifecycle, with history.

Every change is `UPDATE ... WHERE version = :seen`: of two operators acting on
the same order at once, exactly one wins and the other gets ConflictError.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import entitlements, fees, lifecycle, order_notices, prices, proposal, registration
from care.actors import Actor
from care.catalog import BY_CODE
from care.lifecycle import Action, Status
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from dolbom.settings import get_settings
from storage import orders as store
from storage.models import (
    Assignment,
    Dong,
    Order,
    OrderHistory,
    Provider,
    ProviderRegion,
    ProviderService,
    Resident,
)

URGENCIES = ("urgent", "normal")
SOURCES = ("resident", "family", "care_manager", "desk_phone", "health_center", "desk_chat")
# What the desk handles itself (issue 11 §2): closed at the desk or referred to a 보건소, no provider step.
DESK_SERVICES = frozenset({"info", "health"})
# How a 정보제공·상담 order was answered: 기초상담 (basic) or 단순안내 (simple), as seed 001 reports them.
CONSULT_KINDS = ("basic", "simple")
# Units that count against a per-person cap: everything not cancelled or rejected.
CAP_STATUSES = [s.value for s in lifecycle.OPEN] + [Status.DONE.value]


async def get(session: AsyncSession, *, order_id: int) -> Order:
    """Return the order; raise NotFound."""
    order = await store.get(session, order_id)
    if order is None:
        raise NotFound()
    return order


async def get_by_receipt(session: AsyncSession, *, receipt_no: str) -> Order:
    """Return the order with this receipt number; raise NotFound."""
    order = await store.get_by_receipt(session, receipt_no.strip())
    if order is None:
        raise NotFound()
    return order


async def get_current_assignment(session: AsyncSession, *, order_id: int) -> Assignment | None:
    """Return the order's pending or accepted assignment, or None."""
    return await store.current_assignment(session, order_id)


async def list_history(session: AsyncSession, *, order_id: int) -> list[OrderHistory]:
    """Return the order's history, oldest first."""
    return await store.list_history(session, order_id)


async def list_for_requester(session: AsyncSession, *, channel: str, user_key: str, limit: int = 20) -> list[Order]:
    """Return the orders a messenger account asked for, newest first."""
    result = await session.execute(
        select(Order)
        .where(col(Order.requested_by_channel) == channel, col(Order.requested_by_key) == user_key)
        .order_by(col(Order.created_at).desc(), col(Order.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


async def create(
    session: AsyncSession,
    *,
    resident_id: int,
    service_code: str,
    units: int,
    actor: Actor,
    source: str,
    requested_date: date | None = None,
    urgency: str = "normal",
    details: dict[str, Any] | None = None,
    notes: str | None = None,
    requested_by_channel: str | None = None,
    requested_by_key: str | None = None,
    referral_id: int | None = None,
) -> Order:
    """Create an order in 접수 with its first history row, and return it."""
    if service_code not in BY_CODE:
        raise InvalidInput(N_("Unknown service."))
    if units < 1:
        raise InvalidInput(N_("Please give at least one unit."))
    if urgency not in URGENCIES or source not in SOURCES:
        raise InvalidInput(N_("That answer could not be understood."))
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise NotFound()
    now = clock.now()
    order = Order(
        receipt_no=await store.new_receipt_no(session, yymm=clock.local_now().strftime("%y%m")),
        district_id=resident.district_id,
        resident_id=resident_id,
        referral_id=referral_id,
        service_code=service_code,
        units=units,
        requested_date=requested_date,
        urgency=urgency,
        source=source,
        status=Status.RECEIVED.value,
        details=details or {},
        notes=notes,
        requested_by_channel=requested_by_channel,
        requested_by_key=requested_by_key,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(order)
    await session.flush()
    _history(session, order, action="create", from_status=None, to_status=order.status, actor=actor)
    await session.flush()
    return order


def _history(
    session: AsyncSession,
    order: Order,
    *,
    action: str,
    from_status: str | None,
    to_status: str | None,
    actor: Actor,
    reason: str | None = None,
) -> None:
    assert order.id is not None
    session.add(
        OrderHistory(
            order_id=order.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            channel=actor.channel,
        )
    )


async def _move(
    session: AsyncSession,
    *,
    order_id: int,
    action: Action,
    actor: Actor,
    expected_version: int | None,
    reason: str | None = None,
    values: dict[str, Any] | None = None,
) -> Order:
    order = await get(session, order_id=order_id)
    seen = order.version if expected_version is None else expected_version
    if order.version != seen:
        raise ConflictError()
    before = order.status
    after = lifecycle.next_status(before, action, reason=reason)
    now = clock.now()
    changes: dict[str, Any] = {"status": after.value, "updated_at": now, **(values or {})}
    if after.value != before:
        changes["status_changed_at"] = now
    if not await store.update_versioned(session, order_id=order_id, expected_version=seen, values=changes):
        raise ConflictError()
    order = await get(session, order_id=order_id)
    _history(
        session,
        order,
        action=action.value,
        from_status=before,
        to_status=after.value,
        actor=actor,
        reason=reason.strip() if reason else None,
    )
    await session.flush()
    await order_notices.order_moved(session, order=order, action=action.value, actor=actor, reason=reason)
    return order


async def screen(session: AsyncSession, *, order_id: int, actor: Actor, expected_version: int | None = None) -> Order:
    """Move an order from 접수 to 검토 and return it."""
    return await _move(session, order_id=order_id, action=Action.SCREEN, actor=actor, expected_version=expected_version)


async def cancel(
    session: AsyncSession,
    *,
    order_id: int,
    reason: str,
    actor: Actor,
    expected_version: int | None = None,
) -> Order:
    """Cancel an open order (취소) with a reason; withdraw its assignment; return it."""
    order = await _move(
        session,
        order_id=order_id,
        action=Action.CANCEL,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
    )
    await _close_assignment(session, order_id=order_id, status="withdrawn", reason=reason)
    await entitlements.release(session, order_id=order_id)
    return order


async def reject(
    session: AsyncSession,
    *,
    order_id: int,
    reason: str,
    actor: Actor,
    expected_version: int | None = None,
) -> Order:
    """Reject an order at intake (반려) with a reason and return it."""
    order = await _move(
        session,
        order_id=order_id,
        action=Action.REJECT,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
    )
    await entitlements.release(session, order_id=order_id)
    return order


async def _close_assignment(
    session: AsyncSession, *, order_id: int, status: str, reason: str | None = None
) -> Assignment | None:
    current = await store.current_assignment(session, order_id)
    if current is not None:
        current.status = status
        current.decided_at = clock.now()
        if reason:
            current.decline_reason = reason
        session.add(current)
        await session.flush()
    return current


def week_start(moment: datetime) -> datetime:
    """Return the UTC moment of Monday 00:00 (Asia/Seoul) of the week holding moment."""
    local = moment.astimezone(clock.zone())
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday.astimezone(clock.now().tzinfo)


async def list_candidates(
    session: AsyncSession, *, order_id: int, order: Order | None = None, region_id: int | None = None
) -> list[proposal.Candidate]:
    """Return every provider of the order's district as a candidate, with load and fit.

    A caller that has just read the order (and its resident's 권역) passes them: not read again.
    """
    if order is None or order.id != order_id:
        order = await get(session, order_id=order_id)
        resident = await session.get(Resident, order.resident_id)
        if resident is not None and resident.dong_id is not None:
            dong = await session.get(Dong, resident.dong_id)
            region_id = dong.region_id if dong else None
    providers = list(
        (
            await session.execute(
                select(Provider).where(col(Provider.district_id) == order.district_id).order_by(col(Provider.id))
            )
        ).scalars()
    )
    ids = [p.id for p in providers if p.id is not None]
    offers = set(
        (
            await session.execute(
                select(ProviderService.provider_id).where(
                    col(ProviderService.service_code) == order.service_code,
                    col(ProviderService.provider_id).in_(ids),
                )
            )
        ).scalars()
    )
    regions: dict[int, bool] = {}
    if region_id is not None:
        for pid, is_lead in (
            await session.execute(
                select(ProviderRegion.provider_id, ProviderRegion.is_lead).where(
                    col(ProviderRegion.region_id) == region_id
                )
            )
        ).all():
            regions[pid] = is_lead
    load = await store.provider_load(session, since=week_start(clock.now()), provider_ids=ids)
    return [
        proposal.Candidate(
            provider_id=p.id,
            name=p.name,
            active=p.active,
            registered=p.registration == registration.REGISTERED,
            offers_service=p.id in offers,
            serves_region=p.id in regions,
            is_lead=regions.get(p.id, False),
            weekly_capacity=p.weekly_capacity,
            load_this_week=load.get(p.id, 0),
        )
        for p in providers
        if p.id is not None
    ]


async def propose(session: AsyncSession, *, order_id: int) -> proposal.Proposal:
    """Return the provider the desk should assign; raise NoProviderAvailable saying why."""
    return proposal.propose(await list_candidates(session, order_id=order_id))


async def _new_assignment(
    session: AsyncSession,
    *,
    order: Order,
    provider_id: int,
    actor: Actor,
    deadline: datetime | None,
    note: str | None,
) -> Assignment:
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.district_id != order.district_id:
        raise NotFound()
    if not provider.active:
        raise RuleViolation(N_("This provider is paused."))
    # The one choke point (decision 0018): every assignment is made here, so no path gives a
    # pending provider (등록 대기, no pre-registration consulting yet) an order.
    registration.check_can_receive(provider)
    assert order.id is not None
    assignment = Assignment(
        order_id=order.id,
        provider_id=provider_id,
        deadline=deadline or clock.now() + timedelta(hours=get_settings().assignment_deadline_hours),
        assigned_by=actor.id if actor.kind == "operator" else None,
        note=note,
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def assign(
    session: AsyncSession,
    *,
    order_id: int,
    provider_id: int,
    actor: Actor,
    expected_version: int | None = None,
    deadline: datetime | None = None,
    note: str | None = None,
) -> Assignment:
    """Give a screened order to a provider (배정) and return the assignment."""
    # The entitlement ledger reserves units and public support, or refuses until the desk decides.
    await entitlements.reserve(session, order=await get(session, order_id=order_id))
    order = await _move(
        session, order_id=order_id, action=Action.ASSIGN, actor=actor, expected_version=expected_version
    )
    assignment = await _new_assignment(
        session, order=order, provider_id=provider_id, actor=actor, deadline=deadline, note=note
    )
    await order_notices.assigned(session, order=order, assignment=assignment)
    return assignment


async def reassign(
    session: AsyncSession,
    *,
    order_id: int,
    provider_id: int,
    reason: str,
    actor: Actor,
    expected_version: int | None = None,
    deadline: datetime | None = None,
) -> Assignment:
    """Move an assigned or accepted order to another provider (재배정) with a reason."""
    current = await store.current_assignment(session, order_id)
    if current is not None and current.provider_id == provider_id:
        raise RuleViolation(N_("The order is with this provider already."))
    order = await _move(
        session,
        order_id=order_id,
        action=Action.REASSIGN,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
    )
    withdrawn = await _close_assignment(session, order_id=order_id, status="withdrawn", reason=reason)
    assignment = await _new_assignment(
        session, order=order, provider_id=provider_id, actor=actor, deadline=deadline, note=reason
    )
    await order_notices.assigned(session, order=order, assignment=assignment, withdrawn=withdrawn)
    return assignment


async def return_to_desk(
    session: AsyncSession,
    *,
    order_id: int,
    reason: str,
    actor: Actor,
    assignment_status: str = "declined",
    expected_version: int | None = None,
    assignment_id: int | None = None,
) -> Order:
    """Send an assigned order back to 검토 (declined or deadline missed) and return it.

    With assignment_id, only while that assignment is still the order's current one: a provider's
    decline or the deadline chaser must not return an order the desk has just given to someone else.
    """
    seen = expected_version
    if assignment_id is not None:
        seen = seen if seen is not None else (await get(session, order_id=order_id)).version
        current = await store.current_assignment(session, order_id)
        if current is None or current.id != assignment_id:
            raise ConflictError()
    order = await _move(
        session,
        order_id=order_id,
        action=Action.RETURN,
        actor=actor,
        expected_version=seen,
        reason=reason,
    )
    await _close_assignment(session, order_id=order_id, status=assignment_status, reason=reason)
    return order


async def accept(
    session: AsyncSession, *, order_id: int, provider_id: int, actor: Actor, expected_version: int | None = None
) -> Order:
    """Record that the assigned provider accepts (수락) and return the order."""
    # The version read before the assignment check: a reassignment in between makes this conflict.
    seen = (await get(session, order_id=order_id)).version if expected_version is None else expected_version
    current = await store.current_assignment(session, order_id)
    if current is None or current.provider_id != provider_id or current.status != "pending":
        raise RuleViolation(N_("This assignment is not waiting for your answer."))
    order = await _move(session, order_id=order_id, action=Action.ACCEPT, actor=actor, expected_version=seen)
    current.status = "accepted"
    current.decided_at = clock.now()
    session.add(current)
    await session.flush()
    return order


async def start(session: AsyncSession, *, order_id: int, actor: Actor, expected_version: int | None = None) -> Order:
    """Record that delivery has begun (진행) and return the order."""
    return await _move(session, order_id=order_id, action=Action.START, actor=actor, expected_version=expected_version)


async def complete(
    session: AsyncSession,
    *,
    order_id: int,
    delivered_units: int,
    actor: Actor,
    note: str | None = None,
    approved_over_plan: bool = False,
    expected_version: int | None = None,
) -> Order:
    """Record completion (완료) with the units actually delivered and return the order.

    The checks below (plan, cap) hold for the version read here (or the caller's expected_version):
    a change committed in between makes the completion a ConflictError, never a silent success.
    """
    order = await get(session, order_id=order_id)
    seen = order.version if expected_version is None else expected_version
    if order.version != seen:
        raise ConflictError()
    if delivered_units < 0:
        raise InvalidInput(N_("Please give at least one unit."))
    if delivered_units > order.units and not approved_over_plan:
        raise RuleViolation(N_("More units than planned need the desk's approval."))
    year = entitlements.service_day(order).year  # caps and prices of the service's year, not today's
    price = await prices.get(session, district_id=order.district_id, year=year, service_code=order.service_code)
    # Two completions for one resident must not both pass the cap: count under the resident's lock.
    await store.lock_resident_units(session, resident_id=order.resident_id)
    used = await entitlements.used_units(
        session,
        resident_id=order.resident_id,
        service_code=order.service_code,
        year=year,
        statuses=[Status.DONE.value],
        exclude_order_id=order.id,
    )
    if not approved_over_plan:
        fees.check_cap(cap_units=price.cap_units, used_units=used, new_units=delivered_units)
    done = await _move(
        session,
        order_id=order_id,
        action=Action.COMPLETE,
        actor=actor,
        expected_version=seen,
        reason=note,
        values={"delivered_units": delivered_units},
    )
    await _close_assignment(session, order_id=order_id, status="done")
    await entitlements.settle(session, order=done, delivered_units=delivered_units)
    return done


async def cap_status(session: AsyncSession, *, order_id: int, order: Order | None = None) -> dict[str, int | None]:
    """Return the resident's cap, units used (other orders) and units left for this order's service."""
    if order is None or order.id != order_id:
        order = await get(session, order_id=order_id)
    year = entitlements.service_day(order).year
    price = await prices.get(session, district_id=order.district_id, year=year, service_code=order.service_code)
    used_by_others = await entitlements.used_units(
        session,
        resident_id=order.resident_id,
        service_code=order.service_code,
        year=year,
        statuses=CAP_STATUSES,
        exclude_order_id=order.id,
    )
    return {
        "cap": price.cap_units,
        "used": used_by_others,
        "left": fees.remaining_cap(cap_units=price.cap_units, used_units=used_by_others),
        "unit_price": price.unit_price,
    }


async def finish_at_desk(
    session: AsyncSession,
    *,
    order_id: int,
    action: str,
    what: str,
    by: str,
    actor: Actor,
    referred_to: str | None = None,
    consult: str | None = None,
    expected_version: int | None = None,
) -> Order:
    """Close a 정보제공·상담 or 건강지원 order at the desk (desk_complete: what was given, by whom)
    or referred to a 보건소 (refer: where, and the outcome in `what`); return it.

    consult: for 정보제공·상담, whether it was a 기초상담 (basic) or a 단순안내 (simple); the statistics
    report the two apart (seed 001). Kept in details.desk.consult.
    """
    if action not in (Action.DESK_COMPLETE.value, Action.REFER.value):
        raise InvalidInput()
    order = await get(session, order_id=order_id)
    if order.service_code not in DESK_SERVICES:
        raise RuleViolation(N_("Only information and health support orders can be finished at the desk."))
    what, by, where = (what or "").strip(), (by or "").strip(), (referred_to or "").strip()
    if not by:
        raise InvalidInput(N_("Please write who gave it."))
    if action == Action.REFER.value and not where:
        raise InvalidInput(N_("Please write where it was referred to."))
    if consult is not None and (consult not in CONSULT_KINDS or order.service_code != "info"):
        raise InvalidInput()
    record = {"how": action, "what": what[:2000], "by": by[:200], **({"referred_to": where[:200]} if where else {})}
    if consult:
        record["consult"] = consult
    reason = f"{where}: {what}" if where else what
    return await _move(
        session,
        order_id=order_id,
        action=Action(action),
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        values={"details": {**(order.details or {}), "desk": record}, "delivered_units": order.units},
    )


async def change_date(
    session: AsyncSession,
    *,
    order_id: int,
    requested_date: date | None,
    actor: Actor,
    expected_version: int | None = None,
) -> Order:
    """Change the day of the help of an open order (a history row; the resident is told) and return it."""
    order = await get(session, order_id=order_id)
    seen = order.version if expected_version is None else expected_version
    if order.version != seen:
        raise ConflictError()
    if order.status not in {s.value for s in lifecycle.OPEN}:
        raise RuleViolation(N_("The day of a finished order cannot be changed."))
    previous = order.requested_date
    if previous == requested_date:
        return order
    values = {"requested_date": requested_date, "updated_at": clock.now()}
    if not await store.update_versioned(session, order_id=order_id, expected_version=seen, values=values):
        raise ConflictError()
    order = await get(session, order_id=order_id)
    _history(session, order, action="change_date", from_status=order.status, to_status=order.status, actor=actor)
    await session.flush()
    await order_notices.date_changed(session, order=order, previous=previous)
    return order
