"""Admin: the district directory as one .xlsx workbook — the template, the current directory, an upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response

from care import workbook
from console import web
from dolbom.errors import InvalidInput
from dolbom.i18n import N_, gettext

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_admin)])
NAV = [("/admin/district/workbook", N_("District workbook"), ("admin",))]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE = "/admin/district/workbook"
NO_FILE = N_("Please choose the workbook file (.xlsx) to upload.")


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def _page(request: Request, status_code: int = 200, **context: object) -> Response:
    access = web.access_of(request)
    async with web.database(request).sessions() as session:
        districts = await workbook.list_districts(session, access=access)
    context.setdefault("problems", [])
    return web.render(request, "admin_workbook.html", status_code=status_code, districts=districts, **context)


@router.get(PAGE)
async def workbook_page(request: Request) -> Response:
    return await _page(request)


@router.get(PAGE + "/template")
async def workbook_template(request: Request) -> Response:
    return _xlsx(workbook.template(), "district-template.xlsx")


@router.get(PAGE + "/export")
async def workbook_export(request: Request, district: Annotated[int, Query(ge=1, le=2**31 - 1)]) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        data = await workbook.export(session, access=access, district_id=district)
    return _xlsx(data, f"district-{district}.xlsx")


@router.post(PAGE)
async def workbook_upload(request: Request, file: Annotated[UploadFile | None, File()] = None) -> Response:
    access = web.access_of(request)
    data = await file.read() if file is not None else b""
    if not data:
        return await _page(request, 400, problems=[gettext(NO_FILE)])
    try:
        async with web.database(request).transaction() as session:
            applied = await workbook.import_workbook(session, access=access, data=data)
    except workbook.WorkbookRejected as err:
        problems = [workbook.render(p) for p in err.problems]
        return await _page(request, 400, problems=problems, rejected=gettext(err.msgid, count=len(problems)))
    except InvalidInput as err:
        return await _page(request, 400, problems=[gettext(err.msgid)])
    return await _page(request, applied=applied)
