"""The queue: the landing page of the desk, refreshed by a short poll."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import lifecycle, orders, queue
from care.auth import Access
from console import forms, web
from dolbom.errors import NotFound
from dolbom.i18n import N_
from storage.models import Dong, Region

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/", N_("Queue"), ("admin", "operator", "viewer"))]


async def _places(session, access: Access) -> tuple[list[Region], list[Dong]]:  # type: ignore[no-untyped-def]
    rq, dq = select(Region).order_by(col(Region.name)), select(Dong).order_by(col(Dong.name))
    if access.district_id is not None:
        rq = rq.where(col(Region.district_id) == access.district_id)
        dq = dq.where(col(Dong.district_id) == access.district_id)
    return list((await session.execute(rq)).scalars()), list((await session.execute(dq)).scalars())


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
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        page = await queue.list_orders(session, access=access, filters=filters, search=search, cursor=cursor)
        regions, dongs = await _places(session, access)
    return web.render(
        request,
        "queue.html",
        status_code=status_code,
        page=page,
        filters=filters,
        search=search,
        marker=page.marker,
        regions=regions,
        dongs=dongs,
        statuses=queue.OPEN_STATUSES,
        all_statuses=queue.ALL_STATUSES,
        tabs=[(key, queue.TAB_NAMES[key]) for key in ("desk", "providers", "mine", "all")],
        tab_counts=queue.tab_counts(page.counts),
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
    response = web.render(request, "_queue_rows.html", page=page)
    response.headers["X-Queue-Marker"] = page.marker
    response.headers["X-Queue-Total"] = str(page.total)
    return response


@router.get("/queue/poll")
async def poll(request: Request) -> JSONResponse:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        counts, mark = await queue.summary(session, district_id=access.district_id)
    return JSONResponse({"marker": mark, "counts": counts})
