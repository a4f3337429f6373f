"""Admin: set up a district and keep its directory — 권역, 행정동, providers, care managers, the desk's phone.

The walk-through (/admin/setup) is the same district page with its steps ticked; every change goes
through care/directory.py, which checks the admin's district and writes the access log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import directory, invites, prices, registration
from care.catalog import DEFAULTS
from console import directory_forms as df
from console import forms, web
from dolbom import clock
from dolbom.errors import AppError, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from storage.models import CareManager, ChannelBinding, Dong, Region

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_admin)])
NAV = [("/admin/districts", N_("Area set-up"), ("admin",))]

WORKBOOK_PATH = "/admin/district/workbook"  # the workbook upload page (care/workbook.py, its own router)
SERVICES = [(d.code.value, d.name) for d in DEFAULTS]


def _err(err: AppError) -> str:
    messages = getattr(err, "messages", None)
    text = gettext(err.msgid, **{k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()})
    if messages:
        text += " " + " ".join(gettext(m) for m in dict.fromkeys(messages.values()))
    return text


# ------------------------------------------------------------------ districts


async def _districts_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        rows = await directory.list_districts(session, access=access)
    return web.render(
        request,
        "admin_districts.html",
        status_code=status_code,
        rows=rows,
        error=error,
        may_add=access.district_id is None,
        workbook_path=WORKBOOK_PATH,
    )


@router.get("/admin/setup")
async def setup(request: Request) -> Response:
    """The walk-through: the district to set up (the admin's own or the only one), or the first step."""
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        rows = await directory.list_districts(session, access=access)
    if len(rows) == 1:
        return RedirectResponse(f"/admin/districts/{rows[0].id}?setup=1", status_code=303)
    return await _districts_page(request)


@router.get("/admin/districts")
async def districts_page(request: Request) -> Response:
    return await _districts_page(request)


@router.post("/admin/districts")
async def district_create(request: Request, body: Annotated[df.DistrictForm, Form()]) -> Response:
    try:
        async with web.database(request).transaction() as session:
            district = await directory.create_district(
                session,
                access=web.access_of(request),
                code=body.code,
                name=body.name,
                phone=body.phone,
                office_hours=body.office_hours,
            )
    except PermissionDenied:
        raise
    except AppError as err:
        return await _districts_page(request, error=_err(err), status_code=400)
    return RedirectResponse(f"/admin/districts/{district.id}?setup=1", status_code=303)


async def _district_page(
    request: Request, district_id: int, *, error: str | None = None, status_code: int = 200
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        d = await directory.get_directory(session, access=access, district_id=district_id)
    steps = d.steps
    return web.render(
        request,
        "admin_district.html",
        status_code=status_code,
        d=d,
        steps=steps,
        setup=request.query_params.get("setup") == "1" or not all(steps.values()),
        error=error,
        saved=request.query_params.get("done") == "saved",
        regions={r.id: r.name for r in d.regions},
        dongs={x.id: x.name for x in d.dongs},
        kinds=directory.PROVIDER_KIND,
        jobs=directory.JOB_TYPE,
        services=SERVICES,
        workbook_path=WORKBOOK_PATH,
    )


@router.get("/admin/districts/{district_id}")
async def district_page(request: Request, district_id: forms.PathId) -> Response:
    return await _district_page(request, district_id)


async def _change(
    request: Request, district_id: int | None, do: Callable[[Any], Awaitable[Any]], *, anchor: str = ""
) -> Response:
    """Run one directory change; back to the district page, or the page with a kind message on bad input."""
    try:
        async with web.database(request).transaction() as session:
            result = await do(session)
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        if district_id is None:
            raise
        return await _district_page(request, district_id, error=_err(err), status_code=400)
    target = district_id if district_id is not None else result.district_id
    return RedirectResponse(f"/admin/districts/{target}?done=saved{anchor}", status_code=303)


@router.post("/admin/districts/{district_id}")
async def district_update(
    request: Request,
    district_id: forms.PathId,
    body: Annotated[df.DistrictEdit, Form()],
) -> Response:
    return await _change(
        request,
        district_id,
        lambda s: directory.update_district(
            s,
            access=web.access_of(request),
            district_id=district_id,
            code=body.code,
            name=body.name,
            phone=body.phone,
            office_hours=body.office_hours,
            active=body.active,
        ),
        anchor="#desk",
    )


# ------------------------------------------------------------------ regions and dongs


@router.post("/admin/districts/{district_id}/regions")
async def region_create(
    request: Request,
    district_id: forms.PathId,
    body: Annotated[df.RegionForm, Form()],
) -> Response:
    return await _change(
        request,
        district_id,
        lambda s: directory.create_region(s, access=web.access_of(request), district_id=district_id, name=body.name),
        anchor="#regions",
    )


async def _owner(request: Request, model: type, row_id: int) -> int:
    """Return the district of a row the admin may see (404 otherwise), for the page to come back to."""
    async with web.database(request).transaction() as session:
        row: Any = await session.get(model, row_id)
    if row is None or not web.access_of(request).sees(row.district_id):
        raise NotFound()
    return int(row.district_id)


@router.post("/admin/regions/{region_id}")
async def region_update(
    request: Request,
    region_id: forms.PathId,
    body: Annotated[df.RegionEdit, Form()],
) -> Response:
    district_id = await _owner(request, Region, region_id)
    return await _change(
        request,
        district_id,
        lambda s: directory.update_region(
            s, access=web.access_of(request), region_id=region_id, name=body.name, active=body.active
        ),
        anchor="#regions",
    )


@router.post("/admin/districts/{district_id}/dongs")
async def dong_create(
    request: Request,
    district_id: forms.PathId,
    body: Annotated[df.DongForm, Form()],
) -> Response:
    return await _change(
        request,
        district_id,
        lambda s: directory.create_dong(
            s, access=web.access_of(request), district_id=district_id, region_id=body.region_id, name=body.name
        ),
        anchor="#dongs",
    )


@router.post("/admin/dongs/{dong_id}")
async def dong_update(
    request: Request,
    dong_id: forms.PathId,
    body: Annotated[df.DongEdit, Form()],
) -> Response:
    district_id = await _owner(request, Dong, dong_id)
    return await _change(
        request,
        district_id,
        lambda s: directory.update_dong(
            s,
            access=web.access_of(request),
            dong_id=dong_id,
            name=body.name,
            region_id=body.region_id,
            active=body.active,
        ),
        anchor="#dongs",
    )


# ------------------------------------------------------------------ providers


@router.post("/admin/districts/{district_id}/providers")
async def provider_create(request: Request, district_id: forms.PathId) -> Response:
    async def do(s: Any) -> Any:
        body = df.parse_provider(await request.form())
        return await directory.create_provider(
            s,
            access=web.access_of(request),
            district_id=district_id,
            name=body.name,
            kind=body.kind or "",
            phone=body.phone,
            weekly_capacity=body.weekly_capacity,
            setup=df.provider_setup(body),
        )

    return await _change(request, district_id, do, anchor="#providers")


async def _provider_page(
    request: Request, provider_id: int, *, error: str | None = None, status_code: int = 200
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        view = await directory.get_provider(session, access=access, provider_id=provider_id)
        d = await directory.get_directory(session, access=access, district_id=view.provider.district_id)
        assert d.district.id is not None
        pending = [
            i for i in await invites.list_active(session, district_id=d.district.id) if i.provider_id == provider_id
        ]  # type: ignore[arg-type]
    return web.render(
        request,
        "admin_provider.html",
        status_code=status_code,
        v=view,
        p=view.provider,
        d=d,
        kinds=directory.PROVIDER_KIND,
        services=SERVICES,
        pending=pending,
        error=error,
        saved=request.query_params.get("done") == "saved",
        registered_now=request.query_params.get("done") == "registered",
        states=registration.STATES,
        today=clock.local_now().date(),
        binding_name=_binding_name,
    )


def _binding_name(b: ChannelBinding) -> str:
    return b.display_name or gettext(N_("(no name)"))


@router.get("/admin/directory/providers/{provider_id}")
async def provider_page(request: Request, provider_id: forms.PathId) -> Response:
    return await _provider_page(request, provider_id)


@router.post("/admin/directory/providers/{provider_id}")
async def provider_update(request: Request, provider_id: forms.PathId) -> Response:
    try:
        async with web.database(request).transaction() as session:
            view = await directory.get_provider(session, access=web.access_of(request), provider_id=provider_id)
            body = df.parse_provider(await request.form())
            await directory.update_provider(
                session,
                access=web.access_of(request),
                provider_id=provider_id,
                name=body.name,
                kind=body.kind or "",
                phone=body.phone,
                weekly_capacity=body.weekly_capacity,
                active=body.active,
                setup=df.provider_setup(body),
            )
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _provider_page(request, provider_id, error=_err(err), status_code=400)
    return RedirectResponse(f"/admin/districts/{view.provider.district_id}?done=saved#providers", status_code=303)


@router.post("/admin/directory/providers/{provider_id}/consulting")
async def provider_consulting(request: Request, provider_id: forms.PathId) -> Response:
    """Record a new provider's pre-registration consulting: from then on it can receive orders."""
    try:
        async with web.database(request).transaction() as session:
            access = web.access_of(request)
            view = await directory.get_provider(session, access=access, provider_id=provider_id)
            body = forms.parse(forms.ProviderConsulting, await request.form())
            await registration.record_consulting(
                session,
                access=access,
                provider_id=provider_id,
                consulted_on=body.consulted_on,
                consultant=body.consultant,
                note=body.note,
            )
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _provider_page(request, provider_id, error=_err(err), status_code=400)
    return RedirectResponse(f"/admin/directory/providers/{view.provider.id}?done=registered", status_code=303)


# ------------------------------------------------------------------ care managers


@router.post("/admin/districts/{district_id}/care-managers")
async def care_manager_create(
    request: Request,
    district_id: forms.PathId,
    body: Annotated[df.CareManagerForm, Form()],
) -> Response:
    return await _change(
        request,
        district_id,
        lambda s: directory.create_care_manager(
            s,
            access=web.access_of(request),
            district_id=district_id,
            dong_id=body.dong_id,
            name=body.name,
            job_type=body.job_type or "",
            phone=body.phone,
        ),
        anchor="#care-managers",
    )


@router.post("/admin/care-managers/{care_manager_id}")
async def care_manager_update(
    request: Request,
    care_manager_id: forms.PathId,
    body: Annotated[df.CareManagerEdit, Form()],
) -> Response:
    district_id = await _owner(request, CareManager, care_manager_id)
    return await _change(
        request,
        district_id,
        lambda s: directory.update_care_manager(
            s,
            access=web.access_of(request),
            care_manager_id=care_manager_id,
            dong_id=body.dong_id,
            name=body.name,
            job_type=body.job_type or "",
            phone=body.phone,
            active=body.active,
        ),
        anchor="#care-managers",
    )


# ------------------------------------------------------------------ the catalog's year and limit


@router.post("/admin/support-limit")
async def support_limit_update(request: Request, body: Annotated[df.SupportLimitForm, Form()]) -> Response:
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            await directory.get_district(session, access=access, district_id=body.district_id)
            await prices.set_annual_limit(
                session, district_id=body.district_id, year=body.year, annual_limit=body.annual_limit
            )
            await access.log(
                session,
                action="support_limit_update",
                detail=f"{body.district_id}/{body.year} {body.annual_limit}",
            )
    except (NotFound, PermissionDenied):
        raise
    return RedirectResponse(f"/admin/catalog?district={body.district_id}&year={body.year}&done=saved", status_code=303)


@router.post("/admin/catalog-copy")
async def catalog_copy(request: Request, body: Annotated[df.CopyYearForm, Form()]) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        await directory.get_district(session, access=access, district_id=body.district_id)
        await prices.copy_year(session, district_id=body.district_id, year=body.year)
        await access.log(session, action="catalog_copy_year", detail=f"{body.district_id}/{body.year}")
    return RedirectResponse(f"/admin/catalog?district={body.district_id}&year={body.year}&done=saved", status_code=303)
