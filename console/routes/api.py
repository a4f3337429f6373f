"""The JSON API (/api/): orders, residents, providers. Session cookie, CSRF header on writes, district scope."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from care import providers, queue, residents
from console import forms, web
from storage.models import Operator, Order, Resident

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(web.require_operator)])


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """The API described from its OpenAPI schema, without any script from elsewhere."""
    spec = request.app.openapi()
    endpoints = [
        (method.upper(), path, op.get("summary", ""), op.get("description", ""))
        for path, item in spec.get("paths", {}).items()
        for method, op in item.items()
    ]
    return web.render(request, "api_docs.html", endpoints=endpoints)


class OrderOut(BaseModel):
    id: int
    receipt_no: str
    district_id: int
    resident_id: int
    service_code: str
    units: int
    delivered_units: int | None
    requested_date: date | None
    urgency: str
    source: str
    status: str
    notes: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ResidentOut(BaseModel):
    id: int
    district_id: int
    dong_id: int | None
    name: str
    phone: str | None
    address: str | None
    birth_year: int | None
    income_tier: str


class OrderListOut(BaseModel):
    total: int
    counts: dict[str, int]
    orders: list[OrderOut]


class ProposalOut(BaseModel):
    provider_id: int | None
    reason: str


class OrderDetailOut(BaseModel):
    order: OrderOut
    actions: list[str]
    history: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    proposal: ProposalOut | None


class ResidentListOut(BaseModel):
    total: int
    residents: list[ResidentOut]


class RegionOut(BaseModel):
    name: str
    lead: bool


class ProviderOut(BaseModel):
    id: int
    name: str
    active: bool
    weekly_capacity: int
    services: list[str]
    regions: list[RegionOut]
    load_this_week: int
    acceptance_rate: float | None
    completion_rate: float | None
    # registered | pending (등록 대기: receives no orders until its pre-registration consulting is recorded)
    registration: str = "registered"


class OrderListQuery(forms.QueueFilters, forms.Page):
    """The queue's filters and a page of it."""


class ResidentListQuery(forms.Page):
    limit: forms.ApiLimit = 50


class ExportIn(BaseModel):
    q: str = Field(default="", description="only residents whose name contains this (empty: all you may see)")
    reason: str = Field(description="why the download is needed (required; written to the access log)")


def _order(o: Order) -> OrderOut:
    return OrderOut.model_validate(o, from_attributes=True)


def _resident(r: Resident) -> ResidentOut:
    return ResidentOut.model_validate(r, from_attributes=True)


@router.get("/orders")
async def list_orders(request: Request, query: Annotated[OrderListQuery, Query()]) -> OrderListOut:
    """Open orders (or the status filter): urgent newest first, then oldest first; counts per open status.

    Pages: `after` (the last page's cursor, as the queue's links carry it) or the older `offset`."""
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        page = await queue.list_orders(
            session,
            access=access,
            filters=query.filters(default_tab="open"),
            limit=query.limit,
            offset=query.offset,
            cursor=query.after or None,
        )
    return OrderListOut(total=page.total, counts=page.counts, orders=[_order(r.order) for r in page.rows])


@router.get("/orders/{order_id}")
async def get_order(request: Request, order_id: forms.PathId) -> OrderDetailOut:
    """One order with its history and assignments (the view is logged)."""
    async with web.database(request).transaction() as session:
        p = await queue.order_page(session, order_id=order_id, access=web.access_of(request))
    return OrderDetailOut(
        order=_order(p.order),
        actions=p.actions,
        history=[h.model_dump(mode="json") for h in p.history],
        assignments=[{**a.model_dump(mode="json"), "provider_name": name} for a, name in p.assignments],
        proposal=ProposalOut(provider_id=p.proposal.provider_id, reason=p.proposal.reason()) if p.proposal else None,
    )


@router.post("/orders/{order_id}/{action}")
async def order_action(
    request: Request,
    order_id: forms.PathId,
    action: forms.OrderActionName,
    body: forms.OrderAction,
    operator: Operator = Depends(web.require_writer),
) -> OrderOut:
    """screen, assign, reassign, return, complete, cancel, reject, note, desk_complete or refer (409 when stale)."""
    actor = web.actor_of(operator)
    v, reason = body.version, body.reason or ""
    async with web.database(request).transaction() as session:
        order = await queue.act(
            session,
            access=web.access_of(request),
            order_id=order_id,
            action=action,
            actor=actor,
            expected_version=v,
            provider_id=body.provider_id,
            reason=reason,
            units=body.units,
            approved=body.approve,
            override=body.override,
            given_by=body.given_by or "",
            referred_to=body.referred_to or "",
            consult=body.consult,
        )
    return _order(order)


@router.get("/residents")
async def list_residents(request: Request, query: Annotated[ResidentListQuery, Query()]) -> ResidentListOut:
    """Residents by name (searching is POST /api/residents/search: names stay out of URLs)."""
    async with web.database(request).transaction() as session:
        rows, total = await residents.list_residents(
            session, access=web.access_of(request), limit=query.limit, offset=query.offset
        )
    return ResidentListOut(total=total, residents=[_resident(r) for r, _ in rows])


@router.post("/residents/search")
async def search_residents(request: Request, body: forms.Search) -> ResidentListOut:
    """Residents whose name contains q, or whose phone ends in q (4 digits)."""
    async with web.database(request).transaction() as session:
        rows, total = await residents.list_residents(session, access=web.access_of(request), search=body.q)
    return ResidentListOut(total=total, residents=[_resident(r) for r, _ in rows])


@router.post("/residents/export")
async def export_residents(
    request: Request, body: ExportIn, _op: Operator = Depends(web.require_writer)
) -> dict[str, Any]:
    """Every resident you may see (or whose name contains q), for a download; the reason is required and logged."""
    async with web.database(request).transaction() as session:
        rows = await residents.export(session, access=web.access_of(request), search=body.q, reason=body.reason)
    return {"count": len(rows), "residents": [_resident(r) for r in rows]}


@router.get("/residents/{resident_id:int}")  # ":int": GET /api/residents/search is a 405, not an id
async def get_resident(request: Request, resident_id: forms.PathId) -> ResidentOut:
    """One resident (the view is logged)."""
    async with web.database(request).transaction() as session:
        r = await residents.get(session, resident_id=resident_id, access=web.access_of(request))
    return _resident(r)


@router.get("/providers")
async def list_providers(request: Request) -> list[ProviderOut]:
    """Providers with services, regions, capacity, load this week and rates."""
    async with web.database(request).transaction() as session:
        rows = await providers.list_providers(session, access=web.access_of(request))
    return [
        ProviderOut(
            id=s.provider.id,  # type: ignore[arg-type]
            name=s.provider.name,
            active=s.provider.active,
            weekly_capacity=s.provider.weekly_capacity,
            services=s.services,
            regions=[RegionOut(name=n, lead=lead) for n, lead in s.regions],
            load_this_week=s.load_this_week,
            acceptance_rate=s.acceptance_rate,
            completion_rate=s.completion_rate,
            registration=s.provider.registration,
        )
        for s in rows
    ]
