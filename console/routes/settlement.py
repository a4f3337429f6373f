"""정산: the month × provider settlement page and its JSON (GET /api/settlement?month=YYYY-MM[&provider=ID])."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from care import settlement
from console import web
from dolbom.errors import InvalidInput
from dolbom.i18n import N_, gettext

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
