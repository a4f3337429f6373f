"""정산: the month × provider settlement page and its JSON (GET /api/settlement?month=YYYY-MM[&provider=ID]).

Also 마감 (closing a month), corrections after it (a visit, an order's delivered units) that become
adjustment lines in the next open month, and the month's XLSX / CSV download.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from care import closing, labels, queue, settlement
from console import exports, forms, web
from console.routes import orders as orders_routes
from dolbom.errors import AppError, InvalidInput, RuleViolation
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


def _error(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


async def _page(request: Request, *, month_text: str | None, provider_id: int | None = None,
                error: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    try:
        year, month = settlement.parse_month(month_text)
    except InvalidInput as err:
        return web.render(request, "settlement.html", status_code=400, error=gettext(err.msgid), months=[],
                          month="", totals=None, closes=[])  # fmt: skip
    async with web.database(request).transaction() as session:
        access = web.access_of(request)
        months = await settlement.month_for(session, access=access, year=year, month=month, provider_id=provider_id)
        closes = await settlement.closes_for(session, access=access, year=year, month=month)
        subtotals = await settlement.breakdown(session, months)
    data = settlement.as_json(months, year=year, month=month, closes=closes, subtotals=subtotals)
    return web.render(request, "settlement.html", status_code=status_code, months=months, month=data["month"],
                      totals=data, closes=closes, subtotals=subtotals, error=error,
                      done=request.query_params.get("done"))  # fmt: skip


@router.get("/settlement")
async def settlement_page(request: Request) -> Response:
    """The month's settlement per provider: lines, adjustments, public and resident parts, totals, flags, 마감."""
    try:
        provider_id = _provider(request)
    except InvalidInput as err:
        return web.render(request, "settlement.html", status_code=400, error=gettext(err.msgid), months=[],
                          month="", totals=None, closes=[])  # fmt: skip
    return await _page(request, month_text=request.query_params.get("month"), provider_id=provider_id)


@router.post("/settlement/close")
async def settlement_close(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Close (마감) the month for the operator's district: it never changes afterwards."""
    form = await request.form()
    month_text = str(form.get("month", ""))
    try:
        year, month = settlement.parse_month(month_text)
        raw = str(form.get("district", "") or "")
        district_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
        async with web.database(request).transaction() as session:
            await closing.close(session, access=web.access_of(request), year=year, month=month,
                                district_id=district_id)  # fmt: skip
    except (InvalidInput, RuleViolation) as err:
        return await _page(request, month_text=month_text, error=_error(err), status_code=400)
    return RedirectResponse(f"/settlement?month={year}-{month:02d}&done=closed", status_code=303)


def _int(value: object) -> int:
    text = str(value or "").strip().replace(",", "")
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(N_("Please give a whole number."))
    return int(text)


@router.post("/orders/{order_id}/visits/{visit_id}/correct")
async def visit_correct(
    request: Request, order_id: forms.PathId, visit_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Correct a recorded visit; in a closed month the difference becomes an adjustment line in the next open month."""
    form = await request.form()
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            await queue.get_visible(session, order_id=order_id, access=access)
            kind = str(form.get("kind", "delivered"))
            await closing.correct_visit(
                session,
                visit_id=visit_id,
                access=access,
                kind=kind,
                units=0 if kind == "no_show" else _int(form.get("units")),
                reason=str(form.get("reason", ""))[: forms.MAX_TEXT],
            )
    except (InvalidInput, RuleViolation) as err:
        return await orders_routes.show(request, order_id, error=_error(err), status_code=400)
    return RedirectResponse(f"/orders/{order_id}#visits", status_code=303)


@router.post("/orders/{order_id}/units/correct")
async def order_units_correct(
    request: Request, order_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Correct a completed order's delivered units (an order completed without visits)."""
    form = await request.form()
    try:
        async with web.database(request).transaction() as session:
            await closing.correct_order_units(
                session,
                order_id=order_id,
                access=web.access_of(request),
                delivered_units=_int(form.get("delivered_units")),
                reason=str(form.get("reason", ""))[: forms.MAX_TEXT],
            )
    except (InvalidInput, RuleViolation) as err:
        return await orders_routes.show(request, order_id, error=_error(err), status_code=400)
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@api.get("/settlement")
async def settlement_api(request: Request) -> Response:
    """The month's settlement as JSON, amounts in integer 원."""
    try:
        year, month = settlement.parse_month(request.query_params.get("month"))
        provider_id = _provider(request)
    except InvalidInput as err:
        return JSONResponse({"error": gettext(err.msgid)}, status_code=400)
    async with web.database(request).transaction() as session:
        access = web.access_of(request)
        months = await settlement.month_for(session, access=access, year=year, month=month, provider_id=provider_id)
        closes = await settlement.closes_for(session, access=access, year=year, month=month)
        subtotals = await settlement.breakdown(session, months)
    return JSONResponse(settlement.as_json(months, year=year, month=month, closes=closes, subtotals=subtotals))


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
    "날짜",
    "구분",
    "정정한 정산월",
    "정정 사유",
]
MONEY = (5, 6, 7, 8)


def rows_of(months: list[settlement.ProviderSettlement]) -> list[list[str | int]]:
    """Return the export's rows: the lines, then the adjustment lines, then the totals row (as on the page)."""
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
            line.day.isoformat(),
            "이용",
            "",
            "",
        ]
        for p in months
        for line in p.lines
    ]
    rows += [
        [
            a.receipt_no,
            p.provider_name,
            a.resident_id,
            labels.label(labels.SERVICE, a.service_code),
            a.units,
            a.unit_price,
            a.total,
            a.public,
            a.resident,
            "",
            a.day.isoformat(),
            "조정",
            a.original_month,
            a.reason,
        ]
        for p in months
        for a in p.adjustments
    ]
    rows.append(
        ["합계", "", "", "", sum(p.units for p in months), "", sum(p.total for p in months),
         sum(p.public for p in months), sum(p.resident for p in months), "", "", "", "", ""]
    )  # fmt: skip
    return rows


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
                          month="", totals=None, closes=[])  # fmt: skip
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        months = await settlement.month_for(session, access=access, year=year, month=month)
        await access.log(session, action="settlement_export", resident_ids=settlement.residents_of(months) or None,
                         reason=reason[:200], detail=f"{year}-{month:02d}")  # fmt: skip
    fmt = "xlsx" if str(form.get("format", "")) == "xlsx" else "csv"
    return exports.response(fmt, name=f"settlement-{year}-{month:02d}", header=HEADER, rows=rows_of(months),
                            money=MONEY, title="정산")  # fmt: skip
