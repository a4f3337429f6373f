"""민원·사고: complaints and incidents the desk records, follows with steps and closes with an outcome.

A complaint comes in by phone (a plain form, with a resident or none), from an inbox conversation
(the resident and the thread filled in) or from an order (its resident, the order and its provider).
Everything named in it must be of the complaint's district: a resident, order, provider or
conversation of another district is "not found" (and the attempt logged, care.residents.OutOfDistrict).

Seed 001 names "서비스제공 도중 사고 및 갈등 발생시 책임 소재 불분명": so each complaint says who
decided what to do (`decided_by`), the steps taken, and is closed only with an outcome. Of two
operators closing the same complaint at once exactly one wins (a guarded UPDATE); the other is told
someone closed it already.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import parsing
from care.auth import Access
from care.residents import OutOfDistrict, clean_reason
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import (
    Assignment,
    Complaint,
    ComplaintStep,
    DeskThread,
    District,
    Operator,
    Order,
    Provider,
    Resident,
)

OPEN, CLOSED = "open", "closed"
STATUSES: dict[str, str] = {OPEN: N_("Being handled"), CLOSED: N_("Concluded")}
CATEGORIES: dict[str, str] = {
    "service": N_("Complaint about the service"),
    "unkind": N_("Provider was unkind"),
    "accident": N_("Accident"),
    "conflict": N_("Conflict"),
    "other": N_("Other"),
}
SOURCES: dict[str, str] = {
    "phone": N_("By phone"),
    "inbox": N_("Inbox conversation"),
    "order": N_("Order"),
}
MAX_TEXT = 2000
MSG_WHAT = N_("Please write what happened.")
MSG_STEP = N_("Please write the step taken.")
MSG_OUTCOME = N_("Please write the outcome. A complaint is closed only with its outcome.")
MSG_CLOSED_ALREADY = N_("Someone else closed this complaint just now. Please read the outcome they wrote.")
MSG_IS_CLOSED = N_("This complaint is closed. Nothing more can be added.")
MSG_DISTRICT = N_("Please choose the district.")
MSG_CATEGORY = N_("Please choose what kind of complaint it is.")


@dataclass
class Links:
    """What a new complaint is about, checked against the operator's district (all optional)."""

    district_id: int | None = None
    resident: Resident | None = None
    order: Order | None = None
    provider: Provider | None = None
    thread: DeskThread | None = None
    source: str = "phone"


@dataclass
class Row:
    """One complaint as the list shows it."""

    complaint: Complaint
    resident_name: str | None
    provider_name: str | None
    receipt_no: str | None
    steps: int


@dataclass
class Detail:
    """One complaint with its steps and the names of what it is about."""

    complaint: Complaint
    steps: list[ComplaintStep]
    resident: Resident | None
    order: Order | None
    provider: Provider | None
    district_name: str = ""
    providers: list[Provider] = field(default_factory=list)


def _text(value: str | None, *, required: str | None = None) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(required)
        return None
    parsing.refuse_registration_number(text)
    return text[:MAX_TEXT]


def _operator_name(operator: Operator | None, access: Access) -> str | None:
    if operator is not None:
        return operator.display_name or operator.username
    return access.username


async def _order_provider(session: AsyncSession, order_id: int) -> Provider | None:
    """Return who delivers (or delivered) the order: its latest assignment not refused, or None."""
    provider_id = (
        await session.execute(
            select(col(Assignment.provider_id))
            .where(col(Assignment.order_id) == order_id, col(Assignment.status).in_(("pending", "accepted", "done")))
            .order_by(col(Assignment.assigned_at).desc(), col(Assignment.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return await session.get(Provider, provider_id) if provider_id is not None else None


async def resolve_links(
    session: AsyncSession,
    *,
    access: Access,
    district_id: int | None = None,
    resident_id: int | None = None,
    order_id: int | None = None,
    provider_id: int | None = None,
    thread_id: int | None = None,
) -> Links:
    """Return what a complaint is about, every id checked to be of one district the operator sees.

    A conversation brings its resident; an order brings its resident and provider. An id of another
    district (or of a district other than the one chosen) raises OutOfDistrict (404, logged).
    """
    links = Links(district_id=access.district_id if access.district_id is not None else district_id)

    def claim(found_district: int | None, what: str, thing_id: int, resident: int | None = None) -> None:
        if found_district is None or not access.sees(found_district):
            raise OutOfDistrict(what=what, thing_id=thing_id, resident_id=resident)
        if links.district_id is not None and links.district_id != found_district:
            raise OutOfDistrict(what=what, thing_id=thing_id, resident_id=resident)
        links.district_id = found_district

    if thread_id is not None:
        thread = await session.get(DeskThread, thread_id)
        if thread is None:
            raise NotFound()
        # A conversation of nobody's district yet (only the all-district admin sees it): the form asks the district.
        if thread.district_id is not None or access.district_id is not None:
            claim(thread.district_id, "thread", thread_id, thread.resident_id)
        links.thread, links.source = thread, "inbox"
        if resident_id is None:
            resident_id = thread.resident_id
        if order_id is None and thread.order_id is not None:
            order_id = thread.order_id
    if order_id is not None:
        order = await session.get(Order, order_id)
        if order is None:
            raise NotFound()
        claim(order.district_id, "order", order_id, order.resident_id)
        links.order = order
        if links.thread is None:
            links.source = "order"
        if resident_id is None:
            resident_id = order.resident_id
        if provider_id is None:
            links.provider = await _order_provider(session, order_id)
    if resident_id is not None:
        resident = await session.get(Resident, resident_id)
        if resident is None or resident.purged_at is not None:
            raise NotFound()
        claim(resident.district_id, "resident", resident_id, resident_id)
        links.resident = resident
        if links.order is not None and links.order.resident_id != resident_id:
            raise InvalidInput(N_("The order is of another resident."))
    if provider_id is not None:
        provider = await session.get(Provider, provider_id)
        if provider is None:
            raise NotFound()
        claim(provider.district_id, "provider", provider_id)
        links.provider = provider
    return links


async def prefill(
    session: AsyncSession,
    *,
    access: Access,
    resident_id: int | None = None,
    order_id: int | None = None,
    thread_id: int | None = None,
) -> Links:
    """Return what the new-complaint form starts with (writers); the resident shown is logged."""
    access.check_writer()
    links = await resolve_links(session, access=access, resident_id=resident_id, order_id=order_id, thread_id=thread_id)
    if links.resident is not None:
        await access.log(session, action="complaint_form", resident_id=links.resident.id, detail=links.source)
    return links


async def list_providers(session: AsyncSession, *, access: Access, district_id: int | None) -> list[Provider]:
    """Return the providers a complaint of the district can name (the operator's district; the admin's pick)."""
    district = access.district_id if access.district_id is not None else district_id
    query = select(Provider).order_by(col(Provider.name), col(Provider.id))
    if district is not None:
        query = query.where(col(Provider.district_id) == district)
    return list((await session.execute(query)).scalars())


async def create_complaint(
    session: AsyncSession,
    *,
    access: Access,
    category: str,
    what_happened: str | None,
    steps_taken: str | None = None,
    decided_by: str | None = None,
    district_id: int | None = None,
    resident_id: int | None = None,
    order_id: int | None = None,
    provider_id: int | None = None,
    thread_id: int | None = None,
) -> Complaint:
    """Record a complaint or incident in the operator's district (writers) and return it; logged."""
    access.check_writer()
    if category not in CATEGORIES:
        raise InvalidInput(MSG_CATEGORY)
    what = _text(what_happened, required=MSG_WHAT)
    first_step = _text(steps_taken)
    decided = _text(decided_by)
    links = await resolve_links(
        session,
        access=access,
        district_id=district_id,
        resident_id=resident_id,
        order_id=order_id,
        provider_id=provider_id,
        thread_id=thread_id,
    )
    if links.district_id is None:
        raise InvalidInput(MSG_DISTRICT)
    if await session.get(District, links.district_id) is None:
        raise NotFound()
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    now = clock.now()
    complaint = Complaint(
        district_id=links.district_id,
        category=category,
        source=links.source,
        resident_id=links.resident.id if links.resident else None,
        order_id=links.order.id if links.order else None,
        provider_id=links.provider.id if links.provider else None,
        thread_id=links.thread.id if links.thread else None,
        what_happened=what or "",
        decided_by=decided,
        created_by=access.operator_id,
        created_by_name=_operator_name(operator, access),
        created_at=now,
        updated_at=now,
    )
    session.add(complaint)
    await session.flush()
    assert complaint.id is not None
    if first_step:
        session.add(
            ComplaintStep(
                complaint_id=complaint.id,
                at=now,
                text=first_step,
                operator_id=access.operator_id,
                operator_name=complaint.created_by_name,
            )
        )
        await session.flush()
    await access.log(
        session, action="complaint_create", resident_id=complaint.resident_id, detail=f"complaint {complaint.id}"
    )
    return complaint


async def _visible(session: AsyncSession, *, access: Access, complaint_id: int) -> Complaint:
    complaint = await session.get(Complaint, complaint_id, populate_existing=True)
    if complaint is None:
        raise NotFound()
    if not access.sees(complaint.district_id):
        raise OutOfDistrict(what="complaint", thing_id=complaint_id, resident_id=complaint.resident_id)
    return complaint


async def get_complaint(session: AsyncSession, *, access: Access, complaint_id: int) -> Detail:
    """Return one complaint of the operator's district with its steps; the view is logged."""
    complaint = await _visible(session, access=access, complaint_id=complaint_id)
    steps = list(
        (
            await session.execute(
                select(ComplaintStep)
                .where(col(ComplaintStep.complaint_id) == complaint_id)
                .order_by(col(ComplaintStep.at), col(ComplaintStep.id))
            )
        ).scalars()
    )
    resident = await session.get(Resident, complaint.resident_id) if complaint.resident_id else None
    order = await session.get(Order, complaint.order_id) if complaint.order_id else None
    provider = await session.get(Provider, complaint.provider_id) if complaint.provider_id else None
    district = await session.get(District, complaint.district_id)
    await access.log(
        session, action="complaint_view", resident_id=complaint.resident_id, detail=f"complaint {complaint_id}"
    )
    return Detail(
        complaint=complaint,
        steps=steps,
        resident=resident,
        order=order,
        provider=provider,
        district_name=district.name if district else "",
    )


async def list_complaints(
    session: AsyncSession,
    *,
    access: Access,
    status: str | None = None,
    category: str | None = None,
    provider_id: int | None = None,
    district_id: int | None = None,
    limit: int = 200,
) -> list[Row]:
    """Return the complaints of the operator's district (an all-district admin: all, or the one picked),
    open ones first, newest first within; the residents shown are logged."""
    rows = await _rows(
        session, access=access, status=status, category=category, provider_id=provider_id, district_id=district_id,
        limit=limit,
    )  # fmt: skip
    await access.log(
        session,
        action="complaint_list",
        resident_ids=sorted({r.complaint.resident_id for r in rows if r.complaint.resident_id is not None}),
        detail=f"{len(rows)} complaints",
    )
    return rows


async def _rows(
    session: AsyncSession,
    *,
    access: Access,
    status: str | None,
    category: str | None,
    provider_id: int | None,
    district_id: int | None,
    limit: int = 5000,
) -> list[Row]:
    if status is not None and status not in STATUSES:
        raise InvalidInput()
    if category is not None and category not in CATEGORIES:
        raise InvalidInput()
    steps = (
        select(col(ComplaintStep.complaint_id), func.count().label("n"))
        .group_by(col(ComplaintStep.complaint_id))
        .subquery()
    )
    query = (
        select(Complaint, col(Resident.name), col(Provider.name), col(Order.receipt_no), steps.c.n)
        .outerjoin(Resident, col(Resident.id) == col(Complaint.resident_id))
        .outerjoin(Provider, col(Provider.id) == col(Complaint.provider_id))
        .outerjoin(Order, col(Order.id) == col(Complaint.order_id))
        .outerjoin(steps, steps.c.complaint_id == col(Complaint.id))
    )
    district = access.district_id if access.district_id is not None else district_id
    if district is not None:
        query = query.where(col(Complaint.district_id) == district)
    if status is not None:
        query = query.where(col(Complaint.status) == status)
    if category is not None:
        query = query.where(col(Complaint.category) == category)
    if provider_id is not None:
        query = query.where(col(Complaint.provider_id) == provider_id)
    query = query.order_by(
        case((col(Complaint.status) == OPEN, 0), else_=1), col(Complaint.created_at).desc(), col(Complaint.id).desc()
    )
    return [
        Row(complaint=c, resident_name=name, provider_name=provider, receipt_no=receipt, steps=int(n or 0))
        for c, name, provider, receipt, n in (await session.execute(query.limit(limit))).all()
    ]


async def export_complaints(
    session: AsyncSession,
    *,
    access: Access,
    reason: str | None,
    status: str | None = None,
    category: str | None = None,
    provider_id: int | None = None,
    district_id: int | None = None,
) -> list[Row]:
    """Return the list's rows for a download (writers, with a reason); the download is logged with the reason."""
    access.check_writer()
    why = clean_reason(reason)
    rows = await _rows(
        session, access=access, status=status, category=category, provider_id=provider_id, district_id=district_id
    )
    await access.log(
        session,
        action="complaint_export",
        resident_ids=sorted({r.complaint.resident_id for r in rows if r.complaint.resident_id is not None}),
        detail=f"{len(rows)} complaints",
        reason=why,
    )
    return rows


async def list_for_order(session: AsyncSession, *, access: Access, order_id: int) -> list[Complaint]:
    """Return the complaints about an order the operator already sees, newest first (not logged: the order
    page that shows them logs the view)."""
    query = select(Complaint).where(col(Complaint.order_id) == order_id)
    if access.district_id is not None:
        query = query.where(col(Complaint.district_id) == access.district_id)
    query = query.order_by(col(Complaint.created_at).desc(), col(Complaint.id).desc())
    return list((await session.execute(query)).scalars())


async def add_step(session: AsyncSession, *, access: Access, complaint_id: int, text: str | None) -> ComplaintStep:
    """Add a step taken to an open complaint of the operator's district (writers) and return it; logged."""
    access.check_writer()
    complaint = await _visible(session, access=access, complaint_id=complaint_id)
    body = _text(text, required=MSG_STEP)
    if complaint.status != OPEN:
        raise ConflictError(MSG_IS_CLOSED)
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    now = clock.now()
    step = ComplaintStep(
        complaint_id=complaint_id,
        at=now,
        text=body or "",
        operator_id=access.operator_id,
        operator_name=_operator_name(operator, access),
    )
    session.add(step)
    await session.execute(
        update(Complaint)
        .where(col(Complaint.id) == complaint_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await access.log(
        session, action="complaint_step", resident_id=complaint.resident_id, detail=f"complaint {complaint_id}"
    )
    return step


async def close_complaint(
    session: AsyncSession, *, access: Access, complaint_id: int, outcome: str | None, decided_by: str | None = None
) -> Complaint:
    """Close an open complaint with its outcome (writers) and return it.

    Of two closings at once exactly one is recorded: the other raises ConflictError saying someone
    closed it already (the outcome they wrote stays).
    """
    access.check_writer()
    complaint = await _visible(session, access=access, complaint_id=complaint_id)
    result_text = _text(outcome, required=MSG_OUTCOME)
    decided = _text(decided_by)
    if complaint.status != OPEN:
        raise ConflictError(MSG_CLOSED_ALREADY)
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    now = clock.now()
    values: dict[str, object] = {
        "status": CLOSED,
        "outcome": result_text,
        "closed_at": now,
        "closed_by": access.operator_id,
        "closed_by_name": _operator_name(operator, access),
        "updated_at": now,
    }
    if decided:
        values["decided_by"] = decided
    won = await session.execute(
        update(Complaint)
        .where(col(Complaint.id) == complaint_id, col(Complaint.status) == OPEN)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        raise ConflictError(MSG_CLOSED_ALREADY)
    await access.log(
        session, action="complaint_close", resident_id=complaint.resident_id, detail=f"complaint {complaint_id}"
    )
    closed = await session.get(Complaint, complaint_id, populate_existing=True)
    assert closed is not None
    return closed


async def count_open(session: AsyncSession, *, access: Access) -> int:
    """Return how many complaints of the operator's district (every district: the all-district admin) are open."""
    query = select(func.count()).select_from(Complaint).where(col(Complaint.status) == OPEN)
    if access.district_id is not None:
        query = query.where(col(Complaint.district_id) == access.district_id)
    return int((await session.execute(query)).scalar_one())
