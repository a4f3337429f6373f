"""Residents: list, search (POST, so names stay out of URLs), detail, edit with history, export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import checkins, entitlements, identity, registration_numbers, residents
from console import exports, forms, web
from dolbom.errors import AppError, InvalidInput, NotFound, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import Dong, Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/residents", N_("Residents"), ("admin", "operator", "viewer"))]
PAGE = 50


class ListQuery(forms.In):
    offset: forms.Offset = 0


async def _list(
    request: Request, *, search: str | None, offset: int = 0, error: str | None = None, status_code: int = 200
) -> Response:
    async with web.database(request).transaction() as session:
        rows, total = await residents.list_residents(
            session, access=web.access_of(request), search=search, limit=PAGE, offset=offset
        )
    return web.render(
        request,
        "residents.html",
        status_code=status_code,
        rows=rows,
        total=total,
        search=search,
        offset=offset,
        page_size=PAGE,
        error=error,
    )


@router.get("/residents")
async def residents_page(request: Request, query: Annotated[ListQuery, Query()]) -> Response:
    return await _list(request, search=None, offset=query.offset)


@router.post("/residents/search")
async def residents_search(request: Request, body: Annotated[forms.Search, Form()]) -> Response:
    return await _list(request, search=body.q or None)


@router.get("/residents/{resident_id}")
async def resident_page(request: Request, resident_id: forms.PathId) -> Response:
    return await show(request, resident_id)


async def show(request: Request, resident_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    """Render the resident page (with an error from a form on it)."""
    async with web.database(request).transaction() as session:
        d = await residents.detail(session, resident_id=resident_id, access=web.access_of(request))
        ent = await entitlements.for_resident(session, resident=d.resident)
    return web.render(
        request,
        "resident.html",
        status_code=status_code,
        d=d,
        schedule_words=checkins.describe(d.schedule) if d.schedule else None,
        ent=ent,
        error=error,
        today=entitlements.today(),
        saved=error is None and request.query_params.get("done") in ("saved", "confirmed", "revoked", "decided"),
        can_write=request.state.operator.role in web.WRITERS,
    )


TEXT_FIELDS = ("name", "phone", "address")


async def _edit_form(
    request: Request,
    resident_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
    typed: dict[str, object] | None = None,
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        resident = await residents.get(session, resident_id=resident_id, access=access)
        dongs = list(
            (
                await session.execute(
                    select(Dong).where(col(Dong.district_id) == resident.district_id).order_by(col(Dong.name))
                )
            ).scalars()
        )
    # A refused form shows what was typed (the row is detached: nothing of this is saved),
    # except a field holding a registration number, which is never echoed.
    for key, value in (typed or {}).items():
        if key in TEXT_FIELDS and isinstance(value, str) and not registration_numbers.contains(value):
            setattr(resident, key, value)
    return web.render(
        request,
        "resident_edit.html",
        status_code=status_code,
        r=resident,
        dongs=dongs,
        error=error,
        income_tiers=residents.INCOME_TIERS,
    )


@router.get("/residents/{resident_id}/edit")
async def resident_edit_form(
    request: Request, resident_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    return await _edit_form(request, resident_id)


@router.post("/residents/{resident_id}/edit")
async def resident_edit(
    request: Request, resident_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    form = await request.form()
    # What was typed comes back with the error: the parsed values, or the free-text fields as sent.
    values: dict[str, object] = {k: str(form[k]).strip() for k in ("name", "phone", "address") if k in form}
    try:
        body = forms.parse(forms.ResidentEdit, form)
        values = body.values()
        async with web.database(request).transaction() as session:
            await residents.update(session, resident_id=resident_id, access=web.access_of(request), values=values)
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        status = 422 if isinstance(err, RegistrationNumberRefused) else 400
        return await _edit_form(
            request, resident_id, error=gettext(err.msgid, **params), status_code=status, typed=values
        )
    return RedirectResponse(f"/residents/{resident_id}?done=saved", status_code=303)


@router.post("/residents/export")
async def residents_export(
    request: Request, body: Annotated[forms.Export, Form()], _op: Operator = Depends(web.require_writer)
) -> Response:
    try:
        async with web.database(request).transaction() as session:
            rows = await residents.export(session, access=web.access_of(request), search=body.q, reason=body.reason)
    except InvalidInput as err:
        return await _list(request, search=body.q or None, error=gettext(err.msgid), status_code=400)
    return exports.response(
        body.format,
        name="residents",
        header=["id", "이름", "전화", "주소", "출생연도", "소득구분", "등록일"],
        rows=(
            [r.id, r.name, web.fmt_phone(r.phone), r.address, r.birth_year, r.income_tier, r.created_at] for r in rows
        ),
    )


@router.post("/residents/{resident_id}/bindings/{binding_id}/{decision}")
async def resident_binding(
    request: Request,
    resident_id: forms.PathId,
    binding_id: forms.PathId,
    decision: str,
    _op: Operator = Depends(web.require_writer),
) -> Response:
    """Confirm a messenger account as the person's own, or take the binding back (logged)."""
    steps = {"confirm": identity.confirm, "revoke": identity.revoke}
    if decision not in steps:
        raise NotFound()
    async with web.database(request).transaction() as session:
        await steps[decision](session, resident_id=resident_id, binding_id=binding_id, access=web.access_of(request))
    return RedirectResponse(f"/residents/{resident_id}?done={decision}ed".replace("eed", "ed"), status_code=303)


@router.post("/residents/{resident_id}/family/{family_id}/{decision}")
async def resident_family(
    request: Request,
    resident_id: forms.PathId,
    family_id: forms.PathId,
    decision: str,
    _op: Operator = Depends(web.require_writer),
) -> Response:
    """Confirm a family member's messenger account for the alerts they are registered for, or take it back."""
    steps = {"confirm": identity.confirm_family, "revoke": identity.revoke_family}
    if decision not in steps:
        raise NotFound()
    async with web.database(request).transaction() as session:
        await steps[decision](session, resident_id=resident_id, family_id=family_id, access=web.access_of(request))
    return RedirectResponse(f"/residents/{resident_id}?done={decision}ed".replace("eed", "ed"), status_code=303)
