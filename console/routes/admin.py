"""Admin: operators and roles, the service catalog, invite codes, the access log (search, export)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import access_log, auth, invites, operators, prices, registration_numbers, throttle
from care.auth import Access
from console import exports, forms, web
from dolbom import clock
from dolbom.errors import AppError, InvalidInput, NotFound, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import CareManager, District, Dong, Operator, Provider, ServiceCatalog

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_admin)])
NAV = [
    ("/admin/operators", N_("Operators"), ("admin",)),
    ("/admin/catalog", N_("Service catalog"), ("admin",)),
    ("/admin/invites", N_("Invite codes"), ("admin",)),
    ("/admin/access-log", N_("Access log"), ("admin",)),
    ("/admin/access-log/review", N_("Monthly access review"), ("admin",)),
]


def _err(err: AppError) -> str:
    return gettext(err.msgid, **{k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()})


async def _districts(session, access: Access) -> list[District]:  # type: ignore[no-untyped-def]
    q = select(District).order_by(col(District.name))
    if access.district_id is not None:
        q = q.where(col(District.id) == access.district_id)
    return list((await session.execute(q)).scalars())


# ------------------------------------------------------------------ operators


async def _operators_page(
    request: Request, *, error: str | None = None, status_code: int = 200, typed: dict[str, str] | None = None
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        rows = await operators.list_operators(session, district_id=access.district_id)
        districts = await _districts(session, access)
        now = clock.now()
        slowed = {op.id for op in rows if await throttle.is_slowed(session, username=op.username, now=now)}
    return web.render(
        request,
        "admin_operators.html",
        status_code=status_code,
        rows=rows,
        districts={d.id: d.name for d in districts},
        district_list=districts,
        roles=operators.ROLES,
        error=error,
        typed=typed or {},
        saved=request.query_params.get("done") == "saved",
        slowed=slowed,
    )


@router.get("/admin/operators")
async def operators_page(request: Request) -> Response:
    return await _operators_page(request)


@router.post("/admin/operators")
async def operator_create(request: Request, body: Annotated[forms.OperatorCreate, Form()]) -> Response:
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            code = None
            did = access.district_id if access.district_id is not None else body.district_id
            if did is not None:
                district = await session.get(District, did)
                if district is None:
                    raise NotFound()
                code = district.code
            op = await operators.create(
                session,
                username=body.username,
                password=body.password,
                role=body.role,
                district_code=code,
                display_name=body.display_name or None,
                must_change_password=body.must_change,
            )
            await access.log(session, action="operator_create", detail=f"{op.username} {op.role}")
    except AppError as err:
        # What was typed comes back, except a field holding a registration number (never echoed).
        typed = {
            "username": body.username,
            "display_name": body.display_name,
            "role": body.role,
            "district_id": str(body.district_id or ""),
        }
        typed = {k: ("" if registration_numbers.contains(v) else v) for k, v in typed.items()}
        status = 422 if isinstance(err, RegistrationNumberRefused) else 400
        return await _operators_page(request, error=_err(err), status_code=status, typed=typed)
    return RedirectResponse("/admin/operators?done=saved", status_code=303)


@router.post("/admin/operators/{operator_id}")
async def operator_update(
    request: Request,
    operator_id: forms.PathId,
    body: Annotated[forms.OperatorUpdate, Form()],
) -> Response:
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            target = await session.get(Operator, operator_id)
            if target is None or (access.district_id is not None and target.district_id != access.district_id):
                raise NotFound()
            op = await operators.update(
                session,
                operator_id=operator_id,
                role=body.role,
                active=body.active,
                unlock=body.unlock,
                password=body.password or None,
                must_change_password=body.must_change,
            )
            if not op.active or body.password:
                await auth.end_sessions(session, operator_id=operator_id)
            await access.log(session, action="operator_update", detail=f"{op.username} {op.role} active={op.active}")
    except NotFound:
        raise
    except AppError as err:
        return await _operators_page(request, error=_err(err), status_code=400)
    return RedirectResponse("/admin/operators?done=saved", status_code=303)


# ------------------------------------------------------------------ catalog


@router.get("/admin/catalog")
async def catalog_page(request: Request, query: Annotated[forms.CatalogQuery, Query()]) -> Response:
    access = web.access_of(request)
    year = query.year or clock.local_now().year
    async with web.database(request).transaction() as session:
        districts = await _districts(session, access)
        chosen = query.district or (districts[0].id if districts else None)
        if chosen not in {d.id for d in districts}:
            raise NotFound()
        rows = await prices.list_catalog(session, district_id=chosen, year=year) if chosen else []
        limit = await prices.get_annual_limit(session, district_id=chosen, year=year) if chosen else None
    return web.render(
        request,
        "admin_catalog.html",
        rows=rows,
        year=year,
        districts=districts,
        district_id=chosen,
        annual_limit=limit,
        saved=request.query_params.get("done") == "saved",
    )


@router.post("/admin/catalog/{entry_id}")
async def catalog_update(
    request: Request,
    entry_id: forms.PathId,
    body: Annotated[forms.CatalogEntry, Form()],
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        row = await session.get(ServiceCatalog, entry_id)
        if row is None or not access.sees(row.district_id):
            raise NotFound()
        await prices.update_entry(
            session,
            entry_id=entry_id,
            unit_price=body.unit_price,
            cap_units=body.cap_units,
            active=body.active,
            no_show_units=body.no_show_units or 0,
        )
        await access.log(session, action="catalog_update", detail=f"{row.district_id}/{row.year}/{row.code}")
    return RedirectResponse(f"/admin/catalog?district={row.district_id}&year={row.year}&done=saved", status_code=303)


@router.post("/admin/catalog")
async def catalog_create_year(request: Request, body: Annotated[forms.CatalogYear, Form()]) -> Response:
    access = web.access_of(request)
    district_id, year = body.district_id, body.year
    if not access.sees(district_id):
        raise NotFound()
    async with web.database(request).transaction() as session:
        await prices.create_defaults(session, district_id=district_id, year=year)
        await access.log(session, action="catalog_create", detail=f"{district_id}/{year}")
    return RedirectResponse(f"/admin/catalog?district={district_id}&year={year}&done=saved", status_code=303)


# ------------------------------------------------------------------ invites


async def _invites_page(
    request: Request, *, error: str | None = None, new_code: str | None = None, status_code: int = 200
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        districts = await _districts(session, access)
        ids = [d.id for d in districts if d.id is not None]
        active = []
        for did in ids:
            active.extend(await invites.list_active(session, district_id=did))
        managers = list(
            (
                await session.execute(
                    select(CareManager, col(Dong.name))
                    .join(Dong, col(Dong.id) == col(CareManager.dong_id))
                    .where(col(CareManager.district_id).in_(ids), col(CareManager.active))
                    .order_by(col(CareManager.name))
                )
            ).all()
        )
        provs = list(
            (
                await session.execute(
                    select(Provider)
                    .where(col(Provider.district_id).in_(ids), col(Provider.active))
                    .order_by(col(Provider.name))
                )
            ).scalars()
        )
    return web.render(
        request,
        "admin_invites.html",
        status_code=status_code,
        invites=active,
        managers=managers,
        providers=provs,
        error=error,
        new_code=new_code,
        manager_names={m.id: f"{m.name} ({dong})" for m, dong in managers},
        provider_names={p.id: p.name for p in provs},
    )


@router.get("/admin/invites")
async def invites_page(request: Request) -> Response:
    return await _invites_page(request)


@router.post("/admin/invites")
async def invite_create(request: Request, body: Annotated[forms.InviteCreate, Form()]) -> Response:
    target = body.target
    try:
        async with web.database(request).transaction() as session:
            invite = await invites.create_for_desk(session, access=web.access_of(request), target=target)
    except NotFound:
        raise  # another district's manager or provider, or none: 404 like every other sealed thing
    except AppError as err:
        return await _invites_page(request, error=_err(err), status_code=400)
    return await _invites_page(request, new_code=invite.code)


@router.post("/admin/invites/{invite_id}/withdraw")
async def invite_withdraw(request: Request, invite_id: forms.PathId) -> Response:
    async with web.database(request).transaction() as session:
        await invites.withdraw(session, invite_id=invite_id, access=web.access_of(request))
    return RedirectResponse("/admin/invites", status_code=303)


# ------------------------------------------------------------------ access log


def _log_filters(f: forms.AccessLogFilters) -> dict[str, object]:
    zone = clock.zone()
    return {
        "username": f.username,
        "action": f.action if f.action in access_log.ACTIONS else None,
        "resident_id": f.resident_id,
        "since": datetime.combine(f.since, time(), zone) if f.since else None,
        "until": datetime.combine(f.until, time(), zone) + timedelta(days=1) if f.until else None,
    }


async def _access_log_page(
    request: Request,
    filters: forms.AccessLogFilters,
    values: dict[str, str],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    async with web.database(request).transaction() as session:
        rows = await access_log.list_rows(session, access=web.access_of(request), **_log_filters(filters))  # type: ignore[arg-type]
    return web.render(
        request,
        "access_log.html",
        status_code=status_code,
        rows=rows,
        v=values,
        actions=access_log.ACTIONS,
        action_label=access_log.action_label,
        error=error,
    )


@router.get("/admin/access-log")
async def access_log_page(request: Request, query: Annotated[forms.AccessLogFilters, Query()]) -> Response:
    # Filters are operator names, actions, dates and resident numbers: no personal data in the URL.
    values = {k: str(v) for k, v in query.model_dump(exclude_none=True).items()}
    return await _access_log_page(request, query, values)


@router.post("/admin/access-log/export")
async def access_log_export(request: Request, body: Annotated[forms.AccessLogFilters, Form()]) -> Response:
    try:
        async with web.database(request).transaction() as session:
            rows = await access_log.export(
                session, access=web.access_of(request), reason=body.reason, filters=_log_filters(body)
            )
    except InvalidInput as err:
        values = {k: str(v) for k, v in body.model_dump(exclude_none=True).items()}
        return await _access_log_page(request, body, values, error=_err(err), status_code=400)
    return exports.response(
        body.format,
        name="access-log",
        header=["시각", "운영자", "IP", "이용자 번호", "행위", "표시한 이용자 수", "사유", "내용"],
        rows=(
            [
                r.at,
                r.username,
                r.ip,
                r.resident_id,
                access_log.action_label(r.action),
                r.row_count,
                r.reason,
                r.detail,
            ]
            for r in rows
        ),
    )


def _month(text: str | None) -> date:
    try:
        chosen = datetime.strptime((text or "").strip(), "%Y-%m").date()
    except ValueError:
        chosen = None
    today = clock.today()
    if chosen is None or not date(2000, 1, 1) <= chosen <= today:
        # Default: last month, the one a monthly review is about.
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1)
    return chosen


@router.get("/admin/access-log/review")
async def access_log_review(request: Request) -> Response:
    month = _month(request.query_params.get("month"))
    async with web.database(request).transaction() as session:
        review = await access_log.monthly_review(session, access=web.access_of(request), month=month)
    return web.render(
        request,
        "access_log_review.html",
        review=review,
        action_label=access_log.action_label,
        rule=gettext(
            access_log.MSG_UNUSUAL_RULE,
            factor=access_log.UNUSUAL_FACTOR,
            floor=access_log.UNUSUAL_FLOOR,
            export=access_log.EXPORT_FLOOR,
        ),
        month_text=month.strftime("%Y-%m"),
    )
