"""통계: the statistics page, its XLSX workbook and GET /api/statistics, all from care.statistics' tables.

Filters are a GET form: period (month, quarter, year or from–to dates) and scope (the operator's
district, or a 권역 or 동 in it; an all-district admin picks a district). Another district asked
for by an operator bound to one is ignored: they see their own. Each table's chart is drawn beside
it (console/charts.py, in a worker thread).

The monthly report (/statistics/report, ?month=YYYY-MM, the last month if none) gathers every table
and chart of one month for the district on printable A4 pages; /statistics/report/export is the same
as one XLSX workbook with a cover sheet (district, month, when and by whom it was made).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from care import labels, statistics
from console import charts as drawing
from console import exports, web
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_, gettext
from storage.models import Operator

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


def _report_period(params: Mapping[str, str]) -> statistics.Period:
    """The report's month: month=YYYY-MM, or the last whole month."""
    month = (params.get("month") or "").strip()
    if not month:
        last = clock.today().replace(day=1) - timedelta(days=1)
        month = f"{last.year}-{last.month:02d}"
    return statistics.parse_period({"month": month})


async def _compute(
    request: Request, *, action: str, report: bool = False
) -> tuple[statistics.Statistics, dict[str, list[statistics.Place]]]:
    params = request.query_params
    period = _report_period(params) if report else statistics.parse_period(params)
    district_id = _id(params, "district")
    region_id, dong_id = (None, None) if report else (_id(params, "region"), _id(params, "dong"))
    async with web.database(request).transaction() as session:
        access = web.access_of(request)
        stats = await statistics.for_operator(session, access=access, period=period, district_id=district_id,
                                              region_id=region_id, dong_id=dong_id, action=action)  # fmt: skip
        places = await statistics.places(session, access=access, district_id=stats.scope.district_id)
    return stats, places


def _refused(request: Request, err: InvalidInput | NotFound) -> Response:
    return web.render(request, "statistics.html", status_code=404 if isinstance(err, NotFound) else 400,
                      error=gettext(err.msgid), stats=None, places=None, params=request.query_params,
                      periods=statistics.PERIODS)  # fmt: skip


@router.get("/statistics")
async def statistics_page(request: Request) -> Response:
    """The statistics tables and their charts for a period and a scope, with the filters and the downloads."""
    params = request.query_params
    try:
        stats, places = await _compute(request, action="statistics_view")
    except (InvalidInput, NotFound) as err:
        return _refused(request, err)
    # The page does not wait for charts not drawn yet: its script fetches them (console/charts.py).
    charts = await drawing.draw(stats.tables, wait=False, district_id=stats.scope.district_id)
    month = f"{stats.period.first.year}-{stats.period.first.month:02d}"
    report = {"month": month, **({"district": str(stats.scope.district_id)} if stats.scope.district_id else {})}
    return web.render(request, "statistics.html", stats=stats, places=places, params=params, charts=charts,
                      periods=statistics.PERIODS, query=str(request.url.query), report_month=month,
                      report_query=urlencode(report), services=labels.SERVICE,
                      measures=statistics.MEASURE)  # fmt: skip


@router.get("/statistics/charts/{token}")
async def statistics_chart(request: Request, token: str) -> Response:
    """One chart the statistics page left for later, as SVG, once drawn (404: unknown, or another district's)."""
    found = drawing.later(token)
    # sees(None) — every district's figures — is true for the all-district admin only.
    if found is None or not web.access_of(request).sees(found[0]):
        raise NotFound()
    try:
        svg = await asyncio.wait_for(asyncio.wrap_future(found[1]), timeout=60)
    except Exception as err:  # not drawn (no font, or a chart that cannot be drawn): the page takes it away
        raise NotFound() from err
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.post("/statistics/targets")
async def statistics_target(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    """Set (0: remove) a monthly target of the admin's district; back to the statistics page."""
    form = await request.form()
    try:
        district_id = _id({k: str(v) for k, v in form.items()}, "district")
        raw = str(form.get("monthly", "")).strip().replace(",", "")
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput(N_("Please write the target as a number from 0 to 1,000,000."))
        async with web.database(request).transaction() as session:
            district = await statistics.set_target(
                session, access=web.access_of(request), service_code=str(form.get("service", "")),
                measure=str(form.get("measure", "")), monthly=int(raw), district_id=district_id,
            )  # fmt: skip
    except (InvalidInput, NotFound) as err:
        return web.render(request, "statistics.html", status_code=404 if isinstance(err, NotFound) else 400,
                          error=gettext(err.msgid), stats=None, places=None, params=request.query_params,
                          periods=statistics.PERIODS)  # fmt: skip
    # Back to the page as it was: the same period, this district.
    back = {k: str(form.get(f"back_{k}", "")) for k in ("period", "month", "quarter", "year", "from", "to")}
    query = urlencode({k: v for k, v in back.items() if v} | {"district": district, "done": "target"})
    return RedirectResponse(f"/statistics?{query}#stat-targets", status_code=303)


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
        return _refused(request, err)
    name = f"statistics-{stats.period.first.isoformat()}-{stats.period.last.isoformat()}"
    return exports.workbook(name=name, sheets=sheets_of(stats))


def _place(stats: statistics.Statistics) -> str:
    return stats.scope.name or gettext(N_("All districts"))


@router.get("/statistics/report")
async def statistics_report(request: Request) -> Response:
    """The district's monthly report: every table of the month with its chart, on printable A4 pages."""
    try:
        stats, _places = await _compute(request, action="statistics_report", report=True)
    except (InvalidInput, NotFound) as err:
        return _refused(request, err)
    # A print page: it waits for every chart.
    charts = await drawing.draw(stats.tables)
    month = f"{stats.period.first.year}-{stats.period.first.month:02d}"
    query = {"month": month, **({"district": str(stats.scope.district_id)} if stats.scope.district_id else {})}
    return web.render(request, "statistics_report.html", stats=stats, charts=charts, month=month,
                      place=_place(stats), made_at=clock.local_now(), query=urlencode(query))  # fmt: skip


@router.get("/statistics/report/export")
async def statistics_report_export(request: Request) -> Response:
    """Download the monthly report as one XLSX workbook: a cover sheet, then one sheet a table."""
    try:
        stats, _places = await _compute(request, action="statistics_report_export", report=True)
    except (InvalidInput, NotFound) as err:
        return _refused(request, err)
    month = f"{stats.period.first.year}-{stats.period.first.month:02d}"
    operator = request.state.operator
    cover = exports.Sheet(
        title=gettext(N_("Cover")),
        header=[gettext(N_("Monthly statistics report")), ""],
        rows=[
            [gettext(N_("District")), _place(stats)],
            [gettext(N_("Month")), month],
            [gettext(N_("Period")), stats.period.label],
            [gettext(N_("Made at")), clock.local_now()],
            [gettext(N_("Made by")), operator.display_name or operator.username],
        ],
    )
    return exports.workbook(name=f"statistics-report-{month}", sheets=[cover, *sheets_of(stats)])


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
