"""Residents: list, search (POST, so names stay out of URLs), detail, edit with history, export."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import identity, registration_numbers, residents
from console import web
from dolbom import clock
from dolbom.errors import AppError, InvalidInput, NotFound, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import Dong, Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/residents", N_("Residents"), ("admin", "operator", "viewer"))]
PAGE = 50
TRI = {"yes": True, "no": False}


async def _list(request: Request, *, search: str | None, error: str | None = None, status_code: int = 200) -> Response:
    offset = max(web.form_int(request.query_params.get("offset")) or 0, 0) if search is None else 0
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
async def residents_page(request: Request) -> Response:
    return await _list(request, search=None)


@router.post("/residents/search")
async def residents_search(request: Request, q: str = Form("")) -> Response:
    return await _list(request, search=q.strip() or None)


@router.get("/residents/{resident_id}")
async def resident_page(request: Request, resident_id: int) -> Response:
    async with web.database(request).transaction() as session:
        d = await residents.detail(session, resident_id=resident_id, access=web.access_of(request))
    return web.render(
        request,
        "resident.html",
        d=d,
        saved=request.query_params.get("done") in ("saved", "confirmed", "revoked"),
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
    request: Request, resident_id: int, _op: Operator = Depends(web.require_writer)
) -> Response:
    return await _edit_form(request, resident_id)


@router.post("/residents/{resident_id}/edit")
async def resident_edit(request: Request, resident_id: int, _op: Operator = Depends(web.require_writer)) -> Response:
    form = await request.form()
    values: dict[str, object] = {}
    for key in residents.EDITABLE:
        if key not in form:
            continue
        raw = str(form[key]).strip()
        if key in ("disabled", "lives_alone", "cannot_manage_alone", "no_public_service", "no_family_care"):
            values[key] = TRI.get(raw)
        elif key == "needs_phone_call":
            values[key] = raw == "yes"
        else:
            values[key] = raw
    try:
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
    request: Request, q: str = Form(""), reason: str = Form(""), _op: Operator = Depends(web.require_writer)
) -> Response:
    try:
        async with web.database(request).transaction() as session:
            rows = await residents.export(session, access=web.access_of(request), search=q, reason=reason)
    except InvalidInput as err:
        return await _list(request, search=q.strip() or None, error=gettext(err.msgid), status_code=400)
    out = io.StringIO()
    out.write("\ufeff")  # Excel on an office PC reads UTF-8 Korean only with the BOM
    writer = csv.writer(out)
    writer.writerow(["id", "이름", "전화", "주소", "출생연도", "소득구분", "등록일"])
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.name,
                web.fmt_phone(r.phone),
                r.address or "",
                r.birth_year or "",
                r.income_tier,
                web.fmt_dt(r.created_at),
            ]
        )
    stamp = clock.local_now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="residents-{stamp}.csv"'},
    )


@router.post("/residents/{resident_id}/bindings/{binding_id}/{decision}")
async def resident_binding(
    request: Request, resident_id: int, binding_id: int, decision: str, _op: Operator = Depends(web.require_writer)
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
    request: Request, resident_id: int, family_id: int, decision: str, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Confirm a family member's messenger account for the alerts they are registered for, or take it back."""
    steps = {"confirm": identity.confirm_family, "revoke": identity.revoke_family}
    if decision not in steps:
        raise NotFound()
    async with web.database(request).transaction() as session:
        await steps[decision](session, resident_id=resident_id, family_id=family_id, access=web.access_of(request))
    return RedirectResponse(f"/residents/{resident_id}?done={decision}ed".replace("eed", "ed"), status_code=303)
