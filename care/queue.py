"""The desk's queue: open orders, urgent and oldest first, with filters and counts per status."""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import eligibility, lifecycle, orders, proposal
from care.actors import Actor
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import ConflictError, InvalidInput, NoProviderAvailable, NotFound, ReasonRequired, RuleViolation
from dolbom.i18n import N_, gettext
from storage import orders as store
from storage.models import Assignment, DeskNotice, Dong, Order, OrderHistory, Provider, Region, Resident, SavedFilter

OPEN_STATUSES = [s.value for s in lifecycle.Status if s in lifecycle.OPEN]
ALL_STATUSES = [s.value for s in lifecycle.Status]
AGE_DAYS = (1, 3, 7, 14)
_RECEIPT = re.compile(r"^\d{4}-\d{5}$")
_LAST4 = re.compile(r"^\d{4}$")

# The tabs (decision 0013): what the desk itself must do, what is with providers, the operator's own,
# and every order ever (history). A status filter narrows within the tab's statuses.
DESK_STATUSES = [lifecycle.Status.RECEIVED.value, lifecycle.Status.SCREENING.value]
PROVIDER_STATUSES = [
    s.value for s in (lifecycle.Status.ASSIGNED, lifecycle.Status.ACCEPTED, lifecycle.Status.IN_PROGRESS)
]
TABS: dict[str, list[str] | None] = {
    "open": OPEN_STATUSES,  # every open order (the API's default; no tab of its own on the page)
    "desk": DESK_STATUSES,
    "providers": PROVIDER_STATUSES,
    "mine": OPEN_STATUSES,
    "all": None,
}
TAB_NAMES = {"desk": N_("Desk to-do"), "providers": N_("With providers"), "mine": N_("Mine"), "all": N_("Every order")}
# Sortable columns: (column, kind) keys; the id makes every key unique, so keyset paging is exact.
SORTS: dict[str, tuple[str, ...]] = {
    "created": ("created_at",),
    "service": ("service_code", "created_at"),
    "status": ("status", "created_at"),
    "receipt": ("receipt_no",),
}
PAGE_SIZE = 50
# Equality, not "!= urgent": the partial index (district, urgency, created_at, id) then serves both segments.
NOT_URGENT = [u for u in orders.URGENCIES if u != "urgent"]
TOTAL_CAP = 10_000  # a total above this is shown as "10,000+" (counting further would scan history)


@dataclass
class Filters:
    """What the desk narrows the queue to; empty means the desk's to-do tab."""

    status: str | None = None
    service: str | None = None
    region_id: int | None = None
    dong_id: int | None = None
    source: str | None = None
    urgency: str | None = None
    min_age_days: int | None = None
    tab: str = "desk"
    sort: str | None = None  # a key of SORTS, "-" in front for descending; None = the tab's own order


# What a queue row shows of its order (and the API lists): read as plain columns, not ORM objects.
ROW_COLUMNS = (
    "id",
    "receipt_no",
    "district_id",
    "resident_id",
    "service_code",
    "units",
    "delivered_units",
    "requested_date",
    "urgency",
    "source",
    "status",
    "notes",
    "created_at",
    "updated_at",
    "version",
    "completion_disputed_at",
)


@dataclass
class Row:
    order: Any  # the order's ROW_COLUMNS as attributes (a result row)
    resident_name: str
    dong_name: str | None
    region_name: str | None


@dataclass
class Page:
    rows: list[Row]
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    next_cursor: str | None = None  # where the next page starts (keyset), None on the last page
    total_capped: bool = False  # True when there are more than TOTAL_CAP orders (total is the cap)
    marker: str = ""  # the change marker read with the counts (see `marker`)
    approvals: int = 0  # orders in progress awaiting the desk's approval (in the desk's tab)


def is_receipt_no(text: str) -> bool:
    """Return True when text looks like a receipt number (2611-04827)."""
    return bool(_RECEIPT.match(text.strip()))


def tab_counts(counts: dict[str, int], *, approvals: int = 0) -> dict[str, int]:
    """Return the number of open orders per tab, from the counts per status (and orders awaiting approval)."""
    return {
        "desk": sum(counts.get(s, 0) for s in DESK_STATUSES) + approvals,
        "providers": sum(counts.get(s, 0) for s in PROVIDER_STATUSES),
    }


# ---------------------------------------------------------------- keyset cursors


def _encode(segment: str, values: list[Any]) -> str:
    raw = json.dumps([segment, [v.isoformat() if isinstance(v, datetime) else v for v in values]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str | None, kinds: dict[str, tuple[str, ...]]) -> tuple[str, list[Any] | None] | None:
    """Return (segment, key values) of a cursor made by _encode; None when absent; InvalidInput when forged."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        segment, values = json.loads(raw)
        names = (*kinds[segment], "id")
        if values == [] and segment == "n":
            return segment, None  # the normal ones from their start (the urgent ones filled the last page)
        if len(values) != len(names):
            raise ValueError
        out: list[Any] = []
        for name, value in zip(names, values, strict=True):
            if name in ("created_at",):
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError
                out.append(moment)
            elif name == "id":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError
                out.append(value)
            else:
                if not isinstance(value, str):
                    raise ValueError
                out.append(value)
        return segment, out
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput(N_("That page link is not valid any more. Please start from the first page.")) from None


def _key(row: Row, names: tuple[str, ...]) -> list[Any]:
    return [getattr(row.order, n) for n in (*names, "id")]


async def list_orders(
    session: AsyncSession,
    *,
    access: Access,
    filters: Filters | None = None,
    search: str | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    cursor: str | None = None,
) -> Page:
    """Return a queue page of the operator's district (keyset after `cursor`); the residents shown are logged."""
    page = await _query(
        session,
        district_id=access.district_id,
        operator_id=access.operator_id,
        filters=filters,
        search=search,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    await access.log(
        session,
        action="order_search" if search and search.strip() else "queue_view",
        resident_ids=[r.order.resident_id for r in page.rows],
        detail=f"{len(page.rows)} of {page.total}",
    )
    return page


def _conditions(*, district_id: int | None, operator_id: int | None, f: Filters, search: str | None) -> list[Any]:
    conds: list[Any] = []
    if district_id is not None:
        conds.append(col(Order.district_id) == district_id)
    statuses = TABS.get(f.tab, DESK_STATUSES) if not (search and search.strip()) else None
    if f.status:
        # A status asked for by name wins over the tab's statuses (the counts link to each status).
        conds.append(col(Order.status) == f.status)
    elif f.tab == "desk" and statuses is not None:
        # The desk's to-do also holds orders in progress whose provider asks for the desk's approval.
        # Both are open orders: saying so lets the planner read the open orders' partial index alone.
        conds.append(col(Order.status).in_(OPEN_STATUSES))
        conds.append(or_(col(Order.status).in_(statuses), col(Order.id).in_(_awaiting_approval(district_id))))
    elif statuses is not None:
        conds.append(col(Order.status).in_(statuses))
    if f.tab == "mine" and not (search and search.strip()):
        touched = select(col(OrderHistory.order_id)).where(
            col(OrderHistory.actor_kind) == "operator", col(OrderHistory.actor_id) == (operator_id or 0)
        )
        given = select(col(Assignment.order_id)).where(col(Assignment.assigned_by) == (operator_id or 0))
        conds.append(or_(col(Order.id).in_(touched), col(Order.id).in_(given)))
    if f.service:
        conds.append(col(Order.service_code) == f.service)
    if f.source:
        conds.append(col(Order.source) == f.source)
    if f.urgency:
        conds.append(col(Order.urgency) == f.urgency)
    if f.dong_id:
        conds.append(col(Order.resident_id).in_(select(col(Resident.id)).where(col(Resident.dong_id) == f.dong_id)))
    if f.region_id:
        in_region = (
            select(col(Resident.id))
            .join(Dong, col(Dong.id) == col(Resident.dong_id))
            .where(col(Dong.region_id) == f.region_id)
        )
        conds.append(col(Order.resident_id).in_(in_region))
    if f.min_age_days:
        conds.append(col(Order.created_at) <= clock.now() - timedelta(days=f.min_age_days))
    if search and search.strip():
        s = search.strip()
        if is_receipt_no(s):
            conds.append(col(Order.receipt_no) == s)
        else:
            # The people first (an index lookup: last-4 column, or the name's trigram index on PostgreSQL),
            # in the operator's district, then their orders.
            people = select(col(Resident.id))
            if district_id is not None:
                people = people.where(col(Resident.district_id) == district_id)
            if _LAST4.match(s):
                people = people.where(col(Resident.phone_last4) == s)
            else:
                people = people.where(col(Resident.name).contains(s, autoescape=True))
            conds.append(col(Order.resident_id).in_(people))
    return conds


def _awaiting_approval(district_id: Any) -> Any:
    """Return a query of the ids of orders in progress whose provider asked the desk to approve more units."""
    q = (
        select(col(DeskNotice.order_id))
        .join(Order, col(Order.id) == col(DeskNotice.order_id))
        .where(
            col(DeskNotice.kind) == "approval_needed",
            col(DeskNotice.read_at).is_(None),
            col(Order.status) == lifecycle.Status.IN_PROGRESS.value,
        )
    )
    if district_id is not None:
        q = q.where(col(DeskNotice.district_id) == district_id)
    return q


async def count_awaiting_approval(session: AsyncSession, *, district_id: int | None) -> int:
    """Return how many orders in progress wait for the desk's approval (unread approval notices)."""
    ids = _awaiting_approval(district_id).distinct().subquery()
    return int((await session.execute(select(func.count()).select_from(ids))).scalar_one())


def _order_cols(names: tuple[str, ...]) -> list[Any]:
    return [getattr(Order, n) for n in (*names, "id")]


async def _segment(
    session: AsyncSession, conds: list[Any], names: tuple[str, ...], *, desc: bool, after: list[Any] | None, n: int
) -> list[Row]:
    """Return up to n orders matching conds in key order, strictly after the key `after`, with their people."""
    cols = _order_cols(names)
    q = _with_people(_row_select()).where(*conds)
    if after is not None:
        key, seen = tuple_(*cols), tuple_(*[literal(v, type_=c.type) for v, c in zip(after, cols, strict=True)])
        q = q.where(key < seen if desc else key > seen)
    q = q.order_by(*[c.desc() if desc else c.asc() for c in cols]).limit(n)
    return _rows((await session.execute(q)).all())


def _row_select() -> Any:
    people: tuple[Any, ...] = (
        col(Resident.name).label("resident_name"),
        col(Dong.name).label("dong_name"),
        col(Region.name).label("region_name"),
    )
    return select(*[col(getattr(Order, n)) for n in ROW_COLUMNS], *people)


def _rows(found: Any) -> list[Row]:
    return [
        Row(order=r, resident_name=r.resident_name, dong_name=r.dong_name, region_name=r.region_name) for r in found
    ]


def _with_people(q: Any) -> Any:
    return (
        q.join(Resident, col(Resident.id) == col(Order.resident_id))
        .outerjoin(Dong, col(Dong.id) == col(Resident.dong_id))
        .outerjoin(Region, col(Region.id) == col(Dong.region_id))
    )


async def _keyset(
    session: AsyncSession, conds: list[Any], f: Filters, cursor: str | None, limit: int
) -> tuple[list[Row], str | None]:
    """Return one page of orders and the cursor of the next page (None on the last)."""
    if f.sort:
        name = f.sort.lstrip("-")
        names = SORTS[name]
        desc = f.sort.startswith("-")
        seg = "s" + f.sort
        at = _decode(cursor, {seg: names})
        got = await _segment(session, conds, names, desc=desc, after=at[1] if at else None, n=limit + 1)
        more = len(got) > limit
        got = got[:limit]
        return got, _encode(seg, _key(got[-1], names)) if more and got else None
    if f.tab == "all":
        # History: newest first.
        names = ("created_at",)
        at = _decode(cursor, {"a": names})
        got = await _segment(session, conds, names, desc=True, after=at[1] if at else None, n=limit + 1)
        more = len(got) > limit
        got = got[:limit]
        return got, _encode("a", _key(got[-1], names)) if more and got else None
    # The desk's rule (decision 0013): urgent ones newest first, then the others oldest waiting first.
    names = ("created_at",)
    at = _decode(cursor, {"u": names, "n": names})
    segment, after = at if at else ("u", None)
    rows: list[Row] = []
    if segment == "u":
        urgent = await _segment(
            session, [*conds, col(Order.urgency) == "urgent"], names, desc=True, after=after, n=limit + 1
        )
        if len(urgent) > limit:
            return urgent[:limit], _encode("u", _key(urgent[limit - 1], names))
        rows, segment, after = urgent, "n", None
    room = limit - len(rows)
    normal = await _segment(
        session, [*conds, col(Order.urgency).in_(NOT_URGENT)], names, desc=False, after=after, n=room + 1
    )
    rows += normal[:room]
    if len(normal) <= room:
        return rows, None
    return rows, _encode("n", _key(normal[room - 1], names) if room else [])


async def _query(
    session: AsyncSession,
    *,
    district_id: int | None,
    filters: Filters | None,
    search: str | None,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    operator_id: int | None = None,
) -> Page:
    f = filters or Filters()
    if f.tab not in TABS:
        f.tab = "desk"
    if f.sort and f.sort.lstrip("-") not in SORTS:
        f.sort = None
    conds = _conditions(district_id=district_id, operator_id=operator_id, f=f, search=search)
    if offset:
        # The API's old offset paging: kept for callers that page by number (slower far down).
        cols = _order_cols(SORTS["created"])
        q = _with_people(_row_select()).where(*conds)
        rows = _rows((await session.execute(q.order_by(*cols).limit(limit).offset(offset))).all())
        next_cursor = None
    else:
        rows, next_cursor = await _keyset(session, conds, f, cursor, limit)
    counts, mark, approvals = await overview(session, district_id=district_id, approvals=f.tab == "desk")
    plain = Filters(tab=f.tab) == f or Filters(tab=f.tab, sort=f.sort) == f
    statuses = TABS.get(f.tab)
    if plain and statuses is not None and f.tab != "mine" and not (search and search.strip()):
        # A whole tab: its total is the sum of the counts already read (no second count).
        total = sum(counts.get(st, 0) for st in statuses) + approvals
    elif not offset and not cursor and next_cursor is None:
        # Everything fits on the first page (most searches and narrow filters): the rows are the total.
        total = len(rows)
    else:
        capped = select(literal(1)).select_from(Order).where(*conds).limit(TOTAL_CAP + 1).subquery()
        total = int((await session.execute(select(func.count()).select_from(capped))).scalar_one())
    return Page(
        rows=rows,
        counts=counts,
        total=min(total, TOTAL_CAP),
        next_cursor=next_cursor,
        total_capped=total > TOTAL_CAP,
        marker=mark,
        approvals=approvals,
    )


async def summary(session: AsyncSession, *, district_id: int | None) -> tuple[dict[str, int], str]:
    """Return the open orders per open status and the change marker, from one index-only read of open orders."""
    counts, mark, _approvals = await overview(session, district_id=district_id, approvals=False)
    return counts, mark


async def overview(
    session: AsyncSession, *, district_id: int | None, approvals: bool = True
) -> tuple[dict[str, int], str, int]:
    """Return the open orders per open status, the change marker and the orders awaiting approval, in one statement.

    The approvals are `count_awaiting_approval` as a subquery of the same statement (0 when not asked for):
    an order awaiting approval is in progress, so a scope without open orders has none.
    """
    q = _overview_statement(scoped=district_id is not None, approvals=approvals)
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    top, changed, awaiting = 0, None, 0
    for status, n, high, latest, waiting_n in (await session.execute(q, {"district_id": district_id})).all():
        counts[status] = n
        top = max(top, high or 0)
        changed = latest if changed is None or (latest is not None and latest > changed) else changed
        awaiting = int(waiting_n or 0)
    return counts, _marker(top, sum(counts.values()), changed), awaiting


@functools.cache
def _overview_statement(*, scoped: bool, approvals: bool) -> Any:
    # Built once per shape (the district is a parameter): every queue page and poll runs it, and
    # constructing it cost about as much Python as running it.
    district: Any = bindparam("district_id") if scoped else None
    waiting: Any = literal(0)
    if approvals:
        ids = _awaiting_approval(district).distinct().subquery()
        waiting = select(func.count()).select_from(ids).scalar_subquery()
    q = select(
        col(Order.status), func.count(), func.max(col(Order.id)), func.max(col(Order.updated_at)), waiting
    ).where(col(Order.status).in_(OPEN_STATUSES))
    if district is not None:
        q = q.where(col(Order.district_id) == district)
    return q.group_by(col(Order.status))


def _marker(top: int | None, n: int, changed: Any) -> str:
    stamp = changed.isoformat() if isinstance(changed, datetime) else str(changed)
    return f"{top or 0}:{n}:{stamp}"


async def count_by_status(session: AsyncSession, *, district_id: int | None) -> dict[str, int]:
    """Return the number of open orders per open status (zero included); closed ones are history, not counted.

    Reads only the open orders' partial index (decision 0013), never the district's whole history.
    """
    q = select(col(Order.status), func.count()).where(col(Order.status).in_(OPEN_STATUSES)).group_by(col(Order.status))
    if district_id is not None:
        q = q.where(col(Order.district_id) == district_id)
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    for status, n in (await session.execute(q)).all():
        counts[status] = n
    return counts


async def marker(session: AsyncSession, *, district_id: int | None) -> str:
    """Return a short string that changes whenever an open order is added, changes or closes (for polling).

    Open orders only (their partial index holds id and updated_at): closing one lowers the count,
    a new one raises the highest id, any change raises the latest updated_at.
    """
    q = select(func.max(col(Order.id)), func.max(col(Order.updated_at)), func.count()).where(
        col(Order.status).in_(OPEN_STATUSES)
    )
    if district_id is not None:
        q = q.where(col(Order.district_id) == district_id)
    top, changed, n = (await session.execute(q)).one()
    return _marker(top, n, changed)


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
    # The resident with their 동 and 권역: one statement, not three.
    resident, dong, region = (
        await session.execute(
            select(Resident, Dong, Region)
            .outerjoin(Dong, col(Dong.id) == col(Resident.dong_id))
            .outerjoin(Region, col(Region.id) == col(Dong.region_id))
            .where(col(Resident.id) == order.resident_id)
        )
    ).one()
    actions = [a.value for a in lifecycle.allowed_actions(order.status)]
    if order.service_code not in orders.DESK_SERVICES:
        actions = [a for a in actions if a not in DESK_ONLY]
    candidates: list[proposal.Candidate] = []
    chosen: proposal.Proposal | None = None
    why_none: str | None = None
    current = await store.current_assignment(session, order_id)
    current_id = current.provider_id if current else None
    if {"assign", "reassign"} & set(actions):
        candidates = await orders.list_candidates(
            session, order_id=order_id, order=order, region_id=dong.region_id if dong else None
        )
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
        cap=await orders.cap_status(session, order_id=order_id, order=order),
        history=await store.list_history(session, order_id),
        assignments=assignments,
        current_provider_id=current_id,
        candidates=candidates,
        proposal=chosen,
        no_provider_reason=why_none,
        actions=[*actions, "note"],
    )


DESK_ACTIONS = (
    "screen",
    "assign",
    "reassign",
    "return",
    "complete",
    "cancel",
    "reject",
    "note",
    "desk_complete",
    "refer",
)
DESK_ONLY = ("desk_complete", "refer")


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
    override: bool = False,
    given_by: str = "",
    referred_to: str = "",
    consult: str | None = None,
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
    if action in DESK_ONLY:
        return await orders.finish_at_desk(
            session,
            order_id=order_id,
            action=action,
            what=reason,
            by=given_by,
            referred_to=referred_to or None,
            consult=consult or None,
            actor=actor,
            expected_version=expected_version,
        )
    if action == "screen":
        return await orders.screen(session, order_id=order_id, actor=actor, expected_version=expected_version)
    if action in ("assign", "reassign"):
        if provider_id is None:
            raise InvalidInput(N_("Please choose a provider."))
        overridden = await _check_fit(
            session, order_id=order_id, provider_id=provider_id, override=override, reason=reason
        )
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
        if overridden:
            session.add(
                OrderHistory(
                    order_id=order_id,
                    action="override",
                    reason=f"{overridden}: {reason}"[:2000],
                    actor_kind=actor.kind,
                    actor_id=actor.id,
                    actor_name=actor.name,
                    channel=actor.channel,
                )
            )
            await session.flush()
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


async def _check_fit(
    session: AsyncSession, *, order_id: int, provider_id: int, override: bool, reason: str
) -> str | None:
    """Return None when the provider offers the service in the resident's 권역; else its name, when the
    desk overrides explicitly with a reason; otherwise raise RuleViolation (ReasonRequired without a reason)."""
    for c in await orders.list_candidates(session, order_id=order_id):
        if c.provider_id != provider_id:
            continue
        if c.offers_service and c.serves_region:
            return None
        if not override:
            raise RuleViolation(
                N_(
                    "This provider does not offer this service in the person's region. To choose it anyway, tick 'another provider' and write why."  # noqa: E501
                )
            )
        if not reason:
            raise ReasonRequired()
        return c.name
    raise NotFound()


MAX_BULK = 100


async def assign_many(
    session: AsyncSession,
    *,
    access: Access,
    order_ids: list[int],
    provider_id: int | None,
    actor: Actor,
    override: bool = False,
    reason: str = "",
) -> list[Order]:
    """Give several orders of one service to one provider together (received ones are screened first); return them.

    All or nothing: another district's order is NotFound, mixed services or a provider that does not
    fit (without an override and its reason) refuse the whole batch.
    """
    access.check_writer()
    ids = list(dict.fromkeys(order_ids))
    if not ids:
        raise InvalidInput(N_("Please tick the orders to assign."))
    if len(ids) > MAX_BULK:
        raise InvalidInput(N_("Please assign at most {n} orders at once."), n=MAX_BULK)
    chosen = [await get_visible(session, order_id=i, access=access) for i in ids]
    if provider_id is None:
        raise InvalidInput(N_("Please choose a provider."))
    if len({o.service_code for o in chosen}) > 1:
        raise RuleViolation(N_("The ticked orders are for different services. Please tick orders of one service only."))
    if any(o.status not in DESK_STATUSES for o in chosen):
        raise RuleViolation(N_("Only orders waiting at the desk can be assigned together."))
    done: list[Order] = []
    for order in chosen:
        assert order.id is not None
        if order.status == lifecycle.Status.RECEIVED.value:
            order = await orders.screen(session, order_id=order.id, actor=actor)
        assert order.id is not None
        done.append(
            await act(
                session,
                access=access,
                order_id=order.id,
                action="assign",
                actor=actor,
                expected_version=order.version,
                provider_id=provider_id,
                reason=reason,
                override=override,
            )
        )
    return done


MAX_SAVED = 20


async def list_saved_filters(session: AsyncSession, *, access: Access) -> list[SavedFilter]:
    """Return the operator's saved queue views, by name."""
    if access.operator_id is None:
        return []
    return list((await session.execute(_saved_statement(), {"operator_id": access.operator_id})).scalars())


@functools.cache
def _saved_statement() -> Any:
    # Built once (the operator is a parameter): every queue page reads the saved views.
    return (
        select(SavedFilter)
        .where(col(SavedFilter.operator_id) == bindparam("operator_id"))
        .order_by(col(SavedFilter.name))
    )


async def save_filter(session: AsyncSession, *, access: Access, name: str, query: str) -> SavedFilter:
    """Save (or replace, by name) the operator's queue view; return it."""
    name = (name or "").strip()[:60]
    if not name:
        raise InvalidInput(N_("Please give the view a name."))
    if access.operator_id is None:
        raise InvalidInput()
    mine = await list_saved_filters(session, access=access)
    same = next((f for f in mine if f.name == name), None)
    if same is None and len(mine) >= MAX_SAVED:
        raise RuleViolation(N_("You can keep up to {n} saved views. Please delete one first."), n=MAX_SAVED)
    row = same or SavedFilter(operator_id=access.operator_id, name=name, query=query)
    row.query = query
    session.add(row)
    await session.flush()
    return row


async def delete_filter(session: AsyncSession, *, access: Access, filter_id: int) -> None:
    """Delete one of the operator's saved views; NotFound for anyone else's."""
    row = await session.get(SavedFilter, filter_id)
    if row is None or row.operator_id != access.operator_id:
        raise NotFound()
    await session.delete(row)
    await session.flush()
