"""통계: the statistics page, its XLSX workbook and GET /api/statistics, all from care.statistics' tables.

Filters are a GET form: period (month, quarter, year or from–to dates) and scope (the operator's
district, or a 권역 or 동 in it; an all-district admin picks a district). Another district asked
for by an operator bound to one is ignored: they see their own.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from care import statistics
from console import exports, web
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_, gettext

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
api = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(web.require_operator)])
NAV = [("/statistics", N_("Statistics"), ("admin", "operator", "viewer"))]


def _id(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2_147_483_647:
        raise InvalidInput(N_("That answer could not be understood."))
    return int(raw)


async def _compute(request: Request, *, action: str) -> tuple[statistics.Statistics, dict[str, list[statistics.Place]]]:
    params = request.query_params
    period = statistics.parse_period(params)
    district_id, region_id, dong_id = _id(params, "district"), _id(params, "region"), _id(params, "dong")
    async with web.database(request).transaction() as session:
        access = web.access_of(request)
        stats = await statistics.for_operator(session, access=access, period=period, district_id=district_id,
                                              region_id=region_id, dong_id=dong_id, action=action)  # fmt: skip
        places = await statistics.places(session, access=access, district_id=stats.scope.district_id)
    return stats, places


@router.get("/statistics")
async def statistics_page(request: Request) -> Response:
    """The statistics tables for a period and a scope, with the filters and the XLSX download."""
    params = request.query_params
    try:
        stats, places = await _compute(request, action="statistics_view")
    except (InvalidInput, NotFound) as err:
        return web.render(request, "statistics.html", status_code=404 if isinstance(err, NotFound) else 400,
                          error=gettext(err.msgid), stats=None, places=None, params=params,
                          periods=statistics.PERIODS)  # fmt: skip
    return web.render(request, "statistics.html", stats=stats, places=places, params=params,
                      periods=statistics.PERIODS, query=str(request.url.query))  # fmt: skip


def sheets_of(stats: statistics.Statistics) -> list[exports.Sheet]:
    """Return one sheet per table: the column titles in Korean, the rows as on the page."""
    return [
        exports.Sheet(
            title=gettext(t.title),
            header=[gettext(c.title) for c in t.columns],
            rows=[t.cells(row) for row in t.rows],
            money=[i for i, c in enumerate(t.columns) if c.kind == "won"],
        )
        for t in stats.tables
    ]


@router.get("/statistics/export")
async def statistics_export(request: Request) -> Response:
    """Download every table of the page as one XLSX workbook (one sheet a table)."""
    try:
        stats, _places = await _compute(request, action="statistics_export")
    except (InvalidInput, NotFound) as err:
        return web.render(request, "statistics.html", status_code=404 if isinstance(err, NotFound) else 400,
                          error=gettext(err.msgid), stats=None, places=None, params=request.query_params,
                          periods=statistics.PERIODS)  # fmt: skip
    name = f"statistics-{stats.period.first.isoformat()}-{stats.period.last.isoformat()}"
    return exports.workbook(name=name, sheets=sheets_of(stats))


@api.get("/statistics")
async def statistics_api(request: Request) -> Response:
    """The statistics as JSON (from, to: YYYY-MM-DD; or month, quarter, year; district, region, dong ids)."""
    try:
        stats, _places = await _compute(request, action="statistics_view")
    except InvalidInput as err:
        return JSONResponse({"error": gettext(err.msgid)}, status_code=400)
    except NotFound as err:
        return JSONResponse({"error": gettext(err.msgid)}, status_code=404)
    return JSONResponse(stats.as_json())


router.include_router(api)
