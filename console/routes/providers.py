"""Providers: services, regions, capacity, lead, active or paused, load and rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import providers
from console import forms, web
from dolbom.i18n import N_
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/providers", N_("Providers"), ("admin", "operator", "viewer"))]


@router.get("/providers")
async def providers_page(request: Request) -> Response:
    async with web.database(request).transaction() as session:
        rows = await providers.list_providers(session, access=web.access_of(request))
    return web.render(
        request,
        "providers.html",
        rows=rows,
        is_admin=request.state.operator.role == "admin",
        saved=request.query_params.get("done") == "saved",
    )


@router.post("/providers/{provider_id}")
async def provider_update(
    request: Request,
    provider_id: forms.PathId,
    body: Annotated[forms.ProviderUpdate, Form()],
    _op: Operator = Depends(web.require_admin),
) -> Response:
    async with web.database(request).transaction() as session:
        await providers.update(
            session,
            provider_id=provider_id,
            access=web.access_of(request),
            active=body.active,
            weekly_capacity=body.weekly_capacity,
        )
    return RedirectResponse("/providers?done=saved", status_code=303)
