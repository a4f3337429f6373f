"""정산: the month × provider settlement page and its JSON (GET /api/settlement?month=YYYY-MM[&provider=ID])."""

from __future__ import annotations

import io

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING

from care import labels, settlement
from console import exports, web
from dolbom.errors import InvalidInput
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
api = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(web.require_operator)])
NAV = [("/settlement", N_("Settlement"), ("admin", "operator", "viewer"))]


def _provider(request: Request) -> int | None:
    raw = request.query_params.get("provider") or ""
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2_147_483_647:
        raise InvalidInput(N_("That answer could not be understood."))
    return int(raw)


@router.get("/settlement")
async def settlement_page(request: Request) -> Response:
    """The month's settlement per provider: lines, public and resident parts, totals, flags."""
    try:
        year, month = settlement.parse_month(request.query_params.get("month"))
        provider_id = _provider(request)
    except InvalidInput as err:
        return web.render(request, "settlement.html", status_code=400, error=gettext(err.msgid), months=[],
                          month="", totals=None)  # fmt: skip
    async with web.database(request).transaction() as session:
        months = await settlement.month_for(
            session, access=web.access_of(request), year=year, month=month, provider_id=provider_id
        )
    data = settlement.as_json(months, year=year, month=month)
    return web.render(request, "settlement.html", months=months, month=data["month"], totals=data, error=None)


@api.get("/settlement")
async def settlement_api(request: Request) -> Response:
    """The month's settlement as JSON, amounts in integer 원."""
    try:
        year, month = settlement.parse_month(request.query_params.get("month"))
        provider_id = _provider(request)
    except InvalidInput as err:
        return JSONResponse({"error": gettext(err.msgid)}, status_code=400)
    async with web.database(request).transaction() as session:
        months = await settlement.month_for(
            session, access=web.access_of(request), year=year, month=month, provider_id=provider_id
        )
    return JSONResponse(settlement.as_json(months, year=year, month=month))


router.include_router(api)


HEADER = [
    "접수번호",
    "제공기관",
    "이용자번호",
    "서비스",
    "수량",
    "단가(원)",
    "금액(원)",
    "공공 지원(원)",
    "본인 부담(원)",
    "점검",
]


def rows_of(months: list[settlement.ProviderSettlement]) -> list[list[str | int]]:
    """Return the export's rows: one per line, then the totals row (the same numbers as the page)."""
    rows: list[list[str | int]] = [
        [
            line.receipt_no,
            p.provider_name,
            line.resident_id,
            labels.label(labels.SERVICE, line.service_code),
            line.units,
            line.unit_price,
            line.total,
            line.public,
            line.resident,
            ", ".join(labels.label(labels.SETTLEMENT_FLAG, f) for f in line.flags),
        ]
        for p in months
        for line in p.lines
    ]
    rows.append(
        ["합계", "", "", "", sum(p.units for p in months), "", sum(p.total for p in months),
         sum(p.public for p in months), sum(p.resident for p in months), ""]
    )  # fmt: skip
    return rows


def _xlsx(rows: list[list[str | int]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "정산"
    table: list[list[str | int]] = [list(HEADER), *rows]
    for r, row in enumerate(table, start=1):
        for c, value in enumerate(row, start=1):
            written = exports.inert(value)
            cell = sheet.cell(row=r, column=c, value=written)
            if isinstance(written, str):
                cell.data_type = TYPE_STRING
            elif r > 1 and c >= 6:
                cell.number_format = '#,##0"원"'
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.post("/settlement/export")
async def settlement_export(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Download the month as XLSX (원 format, frozen header, totals) or CSV (UTF-8 with BOM), formula-inert."""
    form = await request.form()
    try:
        year, month = settlement.parse_month(str(form.get("month", "")))
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise InvalidInput(N_("Please say why you download this."))
    except InvalidInput as err:
        return web.render(request, "settlement.html", status_code=400, error=gettext(err.msgid), months=[],
                          month="", totals=None)  # fmt: skip
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        months = await settlement.month_for(session, access=access, year=year, month=month)
        shown = sorted({line.resident_id for p in months for line in p.lines})
        await access.log(session, action="settlement_export", resident_ids=shown or None, reason=reason[:200],
                         detail=f"{year}-{month:02d}")  # fmt: skip
    rows = rows_of(months)
    name = f"settlement-{year}-{month:02d}"
    if str(form.get("format", "")) == "xlsx":
        return Response(
            _xlsx(rows),
            media_type=exports.XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return exports.response("csv", name=name, header=HEADER, rows=rows)
