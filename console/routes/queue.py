"""The queue: the landing page of the desk, refreshed by a short poll."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlmodel import col

from care import lifecycle, orders, queue, registration
from care.auth import Access
from console import forms, web
from dolbom.errors import AppError, InvalidInput, NotFound, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import Dong, Operator, Provider, Region

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/", N_("Queue"), ("admin", "operator", "viewer"))]


@dataclass(frozen=True)
class Choice:
    """A 권역, 동 or provider as the filter and assign lists show it (id and name: no ORM object to build)."""

    id: int
    name: str


# The page's choices are read with statements built once per shape (the district is a parameter):
# constructing a statement costs about as much Python as running it.
@functools.cache
def _places_statement(*, scoped: bool) -> Any:
    q = (
        select(col(Dong.id), col(Dong.name), col(Region.id), col(Region.name))
        .join(Region, col(Region.id) == col(Dong.region_id))
        .order_by(col(Dong.name))
    )
    return q.where(col(Dong.district_id) == bindparam("district_id")) if scoped else q


@functools.cache
def _providers_statement(*, scoped: bool) -> Any:
    # Paused providers and those waiting for registration (등록 대기) take no orders: not offered.
    q = (
        select(col(Provider.id), col(Provider.name))
        .where(col(Provider.active), col(Provider.registration) == registration.REGISTERED)
        .order_by(col(Provider.name))
    )
    return q.where(col(Provider.district_id) == bindparam("district_id")) if scoped else q


async def _places(session, access: Access) -> tuple[list[Choice], list[Choice]]:  # type: ignore[no-untyped-def]
    """Return the filter's 권역 and 동 in one query (a 권역 without any 동 has nothing to filter)."""
    q = _places_statement(scoped=access.district_id is not None)
    pairs = (await session.execute(q, {"district_id": access.district_id})).all()
    regions = {rid: Choice(rid, rname) for _, _, rid, rname in pairs}
    return sorted(regions.values(), key=lambda r: r.name), [Choice(did, dname) for did, dname, _, _ in pairs]


async def _providers(session, access: Access) -> list[Choice]:  # type: ignore[no-untyped-def]
    q = _providers_statement(scoped=access.district_id is not None)
    return [Choice(pid, name) for pid, name in (await session.execute(q, {"district_id": access.district_id})).all()]


def _link(f: queue.Filters, **changes: Any) -> str:
    """Return the queue's URL with these filters, changed as asked (None drops a parameter)."""
    params: dict[str, Any] = {
        "tab": f.tab,
        "status": f.status,
        "service": f.service,
        "region": f.region_id,
        "dong": f.dong_id,
        "source": f.source,
        "urgency": f.urgency,
        "age": f.min_age_days,
        "sort": f.sort,
    }
    params.update(changes)
    return "/?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


async def _page(
    request: Request,
    *,
    filters: queue.Filters,
    search: str | None = None,
    cursor: str | None = None,
    number: int = 1,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        page = await queue.list_orders(session, access=access, filters=filters, search=search, cursor=cursor)
        regions, dongs = await _places(session, access)
        providers = await _providers(session, access) if access.can_write else []
        saved = await queue.list_saved_filters(session, access=access)
    return web.render(
        request,
        "queue.html",
        saved=saved,
        view_query=_link(filters)[2:],
        status_code=status_code,
        page=page,
        error=error,
        providers=providers,
        filters=filters,
        search=search,
        marker=page.marker,
        regions=regions,
        dongs=dongs,
        statuses=queue.OPEN_STATUSES,
        all_statuses=queue.ALL_STATUSES,
        tabs=[(key, queue.TAB_NAMES[key]) for key in ("desk", "providers", "mine", "all")],
        tab_counts=queue.tab_counts(page.counts, approvals=page.approvals),
        sorts=queue.SORTS,
        qlink=partial(_link, filters),
        number=number,
        next_link=_link(filters, after=page.next_cursor, page=number + 1) if page.next_cursor else None,
        first_link=_link(filters) if cursor else None,
        open_statuses=[s.value for s in lifecycle.OPEN],
        ages=queue.AGE_DAYS,
        query=request.url.query,
        poll_ms=int(getattr(request.app.state, "queue_poll_seconds", 15) * 1000),
    )


@router.get("/")
async def queue_page(request: Request, query: Annotated[forms.QueueFilters, Query()]) -> Response:
    return await _page(request, filters=query.filters(), cursor=query.after or None, number=query.page)


@router.post("/queue/search")
async def search(request: Request, body: Annotated[forms.Search, Form()]) -> Response:
    # A POST: a name or phone digits typed here never end up in a URL or a proxy log.
    text = body.q
    if queue.is_receipt_no(text):
        async with web.database(request).transaction() as session:
            try:
                order = await orders.get_by_receipt(session, receipt_no=text)
            except NotFound:
                order = None
        if order is not None and web.access_of(request).sees(order.district_id):
            return RedirectResponse(f"/orders/{order.id}", status_code=303)
    return await _page(request, filters=queue.Filters(), search=text)


@router.get("/queue/rows")
async def rows(request: Request, query: Annotated[forms.QueueFilters, Query()]) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        page = await queue.list_orders(session, access=access, filters=query.filters(), cursor=query.after or None)
        providers = await _providers(session, access) if access.can_write else []
    response = web.render(request, "_queue_rows.html", page=page, providers=providers)
    response.headers["X-Queue-Marker"] = page.marker
    response.headers["X-Queue-Total"] = str(page.total)
    return response


@router.get("/queue/poll")
async def poll(request: Request) -> JSONResponse:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        counts, mark, approvals = await queue.overview(session, district_id=access.district_id)
    tabs = queue.tab_counts(counts, approvals=approvals)
    return JSONResponse({"marker": mark, "counts": counts, "tabs": tabs})


@router.post("/queue/assign")
async def assign_together(request: Request, operator: Operator = Depends(web.require_writer)) -> Response:
    """Assign the ticked orders (one service) to one provider together; the queue again with the outcome."""
    form = await request.form()
    try:
        ids = [int(str(v)) for v in form.getlist("order_id")]
        provider = str(form.get("provider_id") or "").strip()
        provider_id = int(provider) if provider else None
        if any(not 1 <= i <= forms.INT4_MAX for i in [*ids, provider_id or 1]):
            raise ValueError
    except ValueError:
        return await _page(
            request, filters=queue.Filters(), status_code=400, error=gettext(N_("Please tick the orders to assign."))
        )
    reason = str(form.get("reason") or "").strip()[: forms.MAX_TEXT]
    try:
        async with web.database(request).transaction() as session:
            done = await queue.assign_many(
                session,
                access=web.access_of(request),
                order_ids=ids,
                provider_id=provider_id,
                actor=web.actor_of(operator),
                override=form.get("override") == "yes",
                reason=reason,
            )
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        status = 400 if isinstance(err, InvalidInput) and not isinstance(err, RegistrationNumberRefused) else 422
        return await _page(request, filters=queue.Filters(), status_code=status, error=gettext(err.msgid, **params))
    return RedirectResponse(f"/?assigned={len(done)}", status_code=303)


@router.post("/queue/filters")
async def save_view(request: Request) -> Response:
    """Save the queue's current filters under a name for this operator; back to that view."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    try:
        parsed = forms.QueueFilters.model_validate(dict(parse_qsl(str(form.get("query") or ""))))
    except ValidationError:
        return await _page(
            request, filters=queue.Filters(), status_code=400, error=gettext(N_("That view could not be saved."))
        )
    query = _link(parsed.filters())[2:]
    try:
        async with web.database(request).transaction() as session:
            await queue.save_filter(session, access=web.access_of(request), name=name, query=query)
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        status = 400 if isinstance(err, InvalidInput) else 422
        return await _page(request, filters=parsed.filters(), status_code=status, error=gettext(err.msgid, **params))
    return RedirectResponse("/?" + query, status_code=303)


@router.post("/queue/filters/{filter_id}/delete")
async def delete_view(request: Request, filter_id: forms.PathId) -> Response:
    """Delete one of this operator's saved views (anyone else's is 404)."""
    async with web.database(request).transaction() as session:
        await queue.delete_filter(session, access=web.access_of(request), filter_id=filter_id)
    return RedirectResponse("/", status_code=303)
