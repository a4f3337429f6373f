"""The desk's queue: open orders, urgent and oldest first, with filters and counts per status."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import eligibility, lifecycle, orders, proposal
from care.actors import Actor
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NoProviderAvailable, NotFound
from dolbom.i18n import N_, gettext
from storage import orders as store
from storage.models import Assignment, Dong, Order, OrderHistory, Provider, Region, Resident

OPEN_STATUSES = [s.value for s in lifecycle.Status if s in lifecycle.OPEN]
ALL_STATUSES = [s.value for s in lifecycle.Status]
AGE_DAYS = (1, 3, 7, 14)
_RECEIPT = re.compile(r"^\d{4}-\d{5}$")
_LAST4 = re.compile(r"^\d{4}$")


@dataclass
class Filters:
    """What the desk narrows the queue to; empty means everything open."""

    status: str | None = None
    service: str | None = None
    region_id: int | None = None
    dong_id: int | None = None
    source: str | None = None
    urgency: str | None = None
    min_age_days: int | None = None


@dataclass
class Row:
    order: Order
    resident_name: str
    dong_name: str | None
    region_name: str | None


@dataclass
class Page:
    rows: list[Row]
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0


def is_receipt_no(text: str) -> bool:
    """Return True when text looks like a receipt number (2611-04827)."""
    return bool(_RECEIPT.match(text.strip()))


async def list_orders(
    session: AsyncSession,
    *,
    access: Access,
    filters: Filters | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Return a queue page of the operator's district (urgent, then oldest first); the residents shown are logged."""
    page = await _query(
        session, district_id=access.district_id, filters=filters, search=search, limit=limit, offset=offset
    )
    await access.log(
        session,
        action="order_search" if search and search.strip() else "queue_view",
        resident_ids=[r.order.resident_id for r in page.rows],
        detail=f"{len(page.rows)} of {page.total}",
    )
    return page


async def _query(
    session: AsyncSession,
    *,
    district_id: int | None,
    filters: Filters | None,
    search: str | None,
    limit: int,
    offset: int,
) -> Page:
    f = filters or Filters()
    q = (
        select(Order, col(Resident.name), col(Dong.name), col(Region.name))
        .join(Resident, col(Resident.id) == col(Order.resident_id))
        .outerjoin(Dong, col(Dong.id) == col(Resident.dong_id))
        .outerjoin(Region, col(Region.id) == col(Dong.region_id))
    )
    conds = []
    if district_id is not None:
        conds.append(col(Order.district_id) == district_id)
    conds.append(col(Order.status) == f.status if f.status else col(Order.status).in_(OPEN_STATUSES))
    if f.service:
        conds.append(col(Order.service_code) == f.service)
    if f.source:
        conds.append(col(Order.source) == f.source)
    if f.urgency:
        conds.append(col(Order.urgency) == f.urgency)
    if f.dong_id:
        conds.append(col(Resident.dong_id) == f.dong_id)
    if f.region_id:
        conds.append(col(Dong.region_id) == f.region_id)
    if f.min_age_days:
        conds.append(col(Order.created_at) <= clock.now() - timedelta(days=f.min_age_days))
    if search and search.strip():
        s = search.strip()
        if is_receipt_no(s):
            conds.append(col(Order.receipt_no) == s)
        elif _LAST4.match(s):
            conds.append(col(Resident.phone).like(f"%{s}"))
        else:
            conds.append(col(Resident.name).contains(s, autoescape=True))
    q = q.where(*conds)
    urgent_first = case((col(Order.urgency) == "urgent", 0), else_=1)
    result = await session.execute(
        q.order_by(urgent_first, col(Order.created_at), col(Order.id)).limit(limit).offset(offset)
    )
    rows = [Row(order=o, resident_name=n, dong_name=d, region_name=r) for o, n, d, r in result.all()]
    total_q = select(func.count()).select_from(q.subquery())
    total = int((await session.execute(total_q)).scalar_one())
    return Page(rows=rows, counts=await count_by_status(session, district_id=district_id), total=total)


async def count_by_status(session: AsyncSession, *, district_id: int | None) -> dict[str, int]:
    """Return the number of orders per status (every status, zero included)."""
    q = select(col(Order.status), func.count()).group_by(col(Order.status))
    if district_id is not None:
        q = q.where(col(Order.district_id) == district_id)
    counts = dict.fromkeys(ALL_STATUSES, 0)
    for status, n in (await session.execute(q)).all():
        counts[status] = n
    return counts


async def marker(session: AsyncSession, *, district_id: int | None) -> str:
    """Return a short string that changes whenever an order is added or changes (for polling)."""
    q = select(func.max(col(Order.id)), func.max(col(Order.updated_at)), func.count())
    if district_id is not None:
        q = q.where(col(Order.district_id) == district_id)
    top, changed, n = (await session.execute(q)).one()
    stamp = changed.isoformat() if isinstance(changed, datetime) else str(changed)
    return f"{top or 0}:{n}:{stamp}"


async def add_note(
    session: AsyncSession, *, order_id: int, text: str, actor: Actor, expected_version: int | None = None
) -> Order:
    """Add a note to an order's history (the status stays); bump its version; return the order."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(N_("Please write the note."))
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound()
    seen = order.version if expected_version is None else expected_version
    now = clock.now()
    if not await store.update_versioned(session, order_id=order_id, expected_version=seen, values={"updated_at": now}):
        raise ConflictError()
    session.add(
        OrderHistory(
            order_id=order_id,
            action="note",
            from_status=order.status,
            to_status=order.status,
            reason=text[:2000],
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            channel=actor.channel,
        )
    )
    await session.flush()
    return await session.get(Order, order_id, populate_existing=True)  # type: ignore[return-value]


@dataclass
class OrderPage:
    """Everything the order page shows."""

    order: Order
    resident: Resident
    dong: Dong | None
    region: Region | None
    screen: eligibility.Screen
    cap: dict[str, int | None]
    history: list[OrderHistory]
    assignments: list[tuple[Assignment, str]]
    current_provider_id: int | None
    candidates: list[proposal.Candidate]
    proposal: proposal.Proposal | None
    no_provider_reason: str | None
    actions: list[str]


async def get_visible(session: AsyncSession, *, order_id: int, access: Access) -> Order:
    """Return the order when the operator may see it; raise NotFound (OutOfDistrict for another district)."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound()
    if not access.sees(order.district_id):
        raise OutOfDistrict(what="order", thing_id=order_id, resident_id=order.resident_id)
    return order


async def order_page(session: AsyncSession, *, order_id: int, access: Access) -> OrderPage:
    """Return the order with its resident, checks, history, assignments and choices (the view is logged)."""
    order = await get_visible(session, order_id=order_id, access=access)
    resident = await session.get(Resident, order.resident_id)
    assert resident is not None
    dong = await session.get(Dong, resident.dong_id) if resident.dong_id else None
    region = await session.get(Region, dong.region_id) if dong else None
    actions = [a.value for a in lifecycle.allowed_actions(order.status)]
    candidates: list[proposal.Candidate] = []
    chosen: proposal.Proposal | None = None
    why_none: str | None = None
    current = await store.current_assignment(session, order_id)
    current_id = current.provider_id if current else None
    if {"assign", "reassign"} & set(actions):
        candidates = await orders.list_candidates(session, order_id=order_id)
        try:
            # On reassignment the proposal is among the others: the current provider is the problem.
            chosen = proposal.propose([c for c in candidates if c.provider_id != current_id])
        except NoProviderAvailable as err:
            why_none = gettext(err.msgid, reason=gettext(err.params["reason"]))
    assignments = [
        (a, name)
        for a, name in (
            await session.execute(
                select(Assignment, col(Provider.name))
                .join(Provider, col(Provider.id) == col(Assignment.provider_id))
                .where(col(Assignment.order_id) == order_id)
                .order_by(col(Assignment.id))
            )
        ).all()
    ]
    await access.log(session, action="order_view", resident_id=resident.id, detail=order.receipt_no)
    return OrderPage(
        order=order,
        resident=resident,
        dong=dong,
        region=region,
        screen=eligibility.prescreen(
            birth_year=resident.birth_year,
            disabled=resident.disabled,
            cannot_manage_alone=resident.cannot_manage_alone,
            no_public_service=resident.no_public_service,
            no_family_care=resident.no_family_care,
            this_year=clock.today().year,
        ),
        cap=await orders.cap_status(session, order_id=order_id),
        history=await store.list_history(session, order_id),
        assignments=assignments,
        current_provider_id=current_id,
        candidates=candidates,
        proposal=chosen,
        no_provider_reason=why_none,
        actions=[*actions, "note"],
    )


DESK_ACTIONS = ("screen", "assign", "reassign", "return", "complete", "cancel", "reject", "note")


async def act(
    session: AsyncSession,
    *,
    access: Access,
    order_id: int,
    action: str,
    actor: Actor,
    expected_version: int,
    provider_id: int | None = None,
    reason: str = "",
    units: int | None = None,
    approved: bool = False,
) -> Order:
    """Apply one desk action to an order of the operator's district (page and API share this); return the order."""
    access.check_writer()
    # Scope first: another district's order is 404 (and logged), whatever the action.
    await get_visible(session, order_id=order_id, access=access)
    reason = (reason or "").strip()
    if action == "complete":
        # The desk records a completion the provider could not: more than planned or over the cap,
        # approved explicitly (approved=True), or on the provider's behalf after a phone call.
        if units is None or units < 1:
            raise InvalidInput(N_("Please give the units delivered."))
        return await orders.complete(
            session,
            order_id=order_id,
            delivered_units=units,
            actor=actor,
            note=reason or None,
            approved_over_plan=approved,
            expected_version=expected_version,
        )
    if action == "screen":
        return await orders.screen(session, order_id=order_id, actor=actor, expected_version=expected_version)
    if action in ("assign", "reassign"):
        if provider_id is None:
            raise InvalidInput(N_("Please choose a provider."))
        if action == "assign":
            await orders.assign(
                session,
                order_id=order_id,
                provider_id=provider_id,
                actor=actor,
                expected_version=expected_version,
                note=reason or None,
            )
        else:
            await orders.reassign(
                session,
                order_id=order_id,
                provider_id=provider_id,
                reason=reason,
                actor=actor,
                expected_version=expected_version,
            )
        return await orders.get(session, order_id=order_id)
    if action == "return":
        return await orders.return_to_desk(
            session,
            order_id=order_id,
            reason=reason,
            actor=actor,
            assignment_status="withdrawn",
            expected_version=expected_version,
        )
    if action == "cancel":
        return await orders.cancel(
            session, order_id=order_id, reason=reason, actor=actor, expected_version=expected_version
        )
    if action == "reject":
        return await orders.reject(
            session, order_id=order_id, reason=reason, actor=actor, expected_version=expected_version
        )
    if action == "note":
        return await add_note(session, order_id=order_id, text=reason, actor=actor, expected_version=expected_version)
    raise InvalidInput()
