"""Residents: list, search (POST, so names stay out of URLs), detail, edit with history, export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import residents
from console import exports, forms, web
from dolbom.errors import AppError, NotFound
from dolbom.i18n import N_, gettext
from storage.models import Dong, Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/residents", N_("Residents"), ("admin", "operator", "viewer"))]
PAGE = 50


class ListQuery(forms.In):
    offset: forms.Offset = 0


async def _list(request: Request, *, search: str | None, offset: int = 0) -> Response:
    async with web.database(request).transaction() as session:
        rows, total = await residents.list_residents(
            session, access=web.access_of(request), search=search, limit=PAGE, offset=offset
        )
    return web.render(request, "residents.html", rows=rows, total=total, search=search, offset=offset, page_size=PAGE)


@router.get("/residents")
async def residents_page(request: Request, query: Annotated[ListQuery, Query()]) -> Response:
    return await _list(request, search=None, offset=query.offset)


@router.post("/residents/search")
async def residents_search(request: Request, body: Annotated[forms.Search, Form()]) -> Response:
    return await _list(request, search=body.q or None)


@router.get("/residents/{resident_id}")
async def resident_page(request: Request, resident_id: forms.PathId) -> Response:
    async with web.database(request).transaction() as session:
        d = await residents.detail(session, resident_id=resident_id, access=web.access_of(request))
    return web.render(
        request,
        "resident.html",
        d=d,
        saved=request.query_params.get("done") == "saved",
        can_write=request.state.operator.role in web.WRITERS,
    )


async def _edit_form(
    request: Request, resident_id: int, *, error: str | None = None, status_code: int = 200
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
    try:
        body = forms.parse(forms.ResidentEdit, await request.form())
        async with web.database(request).transaction() as session:
            await residents.update(
                session, resident_id=resident_id, access=web.access_of(request), values=body.values()
            )
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        return await _edit_form(request, resident_id, error=gettext(err.msgid, **params), status_code=400)
    return RedirectResponse(f"/residents/{resident_id}?done=saved", status_code=303)


@router.post("/residents/export")
async def residents_export(
    request: Request, body: Annotated[forms.Export, Form()], _op: Operator = Depends(web.require_writer)
) -> Response:
    async with web.database(request).transaction() as session:
        rows = await residents.export(session, access=web.access_of(request), search=body.q)
    return exports.response(
        body.format,
        name="residents",
        header=["id", "이름", "전화", "주소", "출생연도", "소득구분", "등록일"],
        rows=(
            [r.id, r.name, web.fmt_phone(r.phone), r.address, r.birth_year, r.income_tier, r.created_at] for r in rows
        ),
    )
