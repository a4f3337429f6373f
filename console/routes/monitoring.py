"""모니터링: inspections of providers (정기 / 수시), the checklist, results, follow-ups, sharing the results.

Named 모니터링 and /monitoring: /checks (점검) is the billing checks' list. Every read and write goes
through care/monitoring.py, which scopes it to the operator's district and writes the access log.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import directory, monitoring
from console import forms, web
from dolbom import clock
from dolbom.errors import AppError, NotFound, PermissionDenied, RegistrationNumberRefused, RuleViolation
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/monitoring", monitoring.TITLE, ("admin", "operator", "viewer"))]

DONE = {
    "planned": N_("The monitoring visit is planned."),
    "recorded": N_("The results are recorded."),
    "followup": N_("The follow-up is added."),
    "closed": N_("The follow-up is marked done."),
    "shared": N_("The results were sent to the provider's staff on the bot."),
    "saved": N_("Saved."),
}
_VERDICT = re.compile(r"^verdict_(\d{1,10})$")


def _message(err: AppError) -> str:
    return gettext(err.msgid, **{k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()})


def _status(err: AppError) -> int:
    # As the app's own handler answers: a rule (or a registration number typed) 422, an answer that does not fit 400.
    return 422 if isinstance(err, (RuleViolation, RegistrationNumberRefused)) else 400


def _done(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    return gettext(DONE[key]) if key in DONE else None


def _provider_param(request: Request) -> int | None:
    raw = request.query_params.get("provider", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= forms.INT4_MAX:
        raise NotFound()
    return int(raw)


# ------------------------------------------------------------------ the list and planning


async def _list_page(
    request: Request, *, provider_id: int | None, error: str | None = None, status_code: int = 200
) -> Response:
    async with web.database(request).transaction() as session:
        b = await monitoring.board(session, access=web.access_of(request), provider_id=provider_id)
    return web.render(
        request,
        "monitoring.html",
        status_code=status_code,
        b=b,
        kinds=monitoring.KINDS,
        statuses=monitoring.STATUSES,
        error=error,
        done=_done(request),
        today=clock.today(),
        may_write=web.access_of(request).can_write,
        is_admin=web.access_of(request).role == "admin",
    )


@router.get("/monitoring")
async def monitoring_page(request: Request) -> Response:
    """Inspections of the district (or of one provider: ?provider=), with every overdue follow-up."""
    return await _list_page(request, provider_id=_provider_param(request))


@router.post("/monitoring")
async def monitoring_plan(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Plan an inspection of a provider of the operator's district."""
    try:
        body = forms.parse(forms.InspectionPlan, await request.form())
        async with web.database(request).transaction() as session:
            inspection = await monitoring.plan(
                session,
                access=web.access_of(request),
                provider_id=body.provider_id,
                kind=body.kind,
                planned_on=body.planned_on,
                reason=body.reason,
            )
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _list_page(request, provider_id=None, error=_message(err), status_code=_status(err))
    return RedirectResponse(f"/monitoring/{inspection.id}?done=planned", status_code=303)


# ------------------------------------------------------------------ the checklist (admins)


async def _checklist_page(
    request: Request, *, district_id: int | None, error: str | None = None, status_code: int = 200
) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        districts = await directory.list_districts(session, access=access) if access.district_id is None else []
        chosen = access.district_id if access.district_id is not None else district_id
        items = await monitoring.list_checklist(session, access=access, district_id=chosen) if chosen else []
    return web.render(
        request,
        "monitoring_checklist.html",
        status_code=status_code,
        items=items,
        districts=districts,
        district_id=chosen,
        error=error,
        done=_done(request),
    )


def _district_param(request: Request) -> int | None:
    raw = request.query_params.get("district", "").strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= forms.INT4_MAX else None


@router.get("/monitoring/checklist")
async def checklist_page(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    """The district's checklist: add, reword, reorder and retire items."""
    return await _checklist_page(request, district_id=_district_param(request))


@router.post("/monitoring/checklist")
async def checklist_add(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    form = await request.form()
    raw = str(form.get("district_id", "")).strip()
    district_id = int(raw) if raw.isdigit() and 1 <= int(raw) <= forms.INT4_MAX else None
    try:
        body = forms.parse(forms.MonitoringItemNew, form)
        async with web.database(request).transaction() as session:
            item = await monitoring.add_item(
                session, access=web.access_of(request), district_id=district_id, text=body.text
            )
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _checklist_page(request, district_id=district_id, error=_message(err), status_code=_status(err))
    return RedirectResponse(f"/monitoring/checklist?district={item.district_id}&done=saved", status_code=303)


@router.post("/monitoring/checklist/defaults")  # before /{item_id}: "defaults" is not an item
async def checklist_defaults(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    form = await request.form()
    raw = str(form.get("district_id", "")).strip()
    district_id = int(raw) if raw.isdigit() and 1 <= int(raw) <= forms.INT4_MAX else None
    try:
        async with web.database(request).transaction() as session:
            chosen = await monitoring.add_defaults(session, access=web.access_of(request), district_id=district_id)
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _checklist_page(request, district_id=district_id, error=_message(err), status_code=_status(err))
    return RedirectResponse(f"/monitoring/checklist?district={chosen}&done=saved", status_code=303)


@router.post("/monitoring/checklist/{item_id}")
async def checklist_edit(
    request: Request, item_id: forms.PathId, _op: Operator = Depends(web.require_admin)
) -> Response:
    try:
        body = forms.parse(forms.MonitoringItemEdit, await request.form())
        async with web.database(request).transaction() as session:
            item = await monitoring.update_item(
                session,
                access=web.access_of(request),
                item_id=item_id,
                text=body.text,
                position=body.position,
                active=body.active,
            )
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _checklist_page(
            request, district_id=_district_param(request), error=_message(err), status_code=_status(err)
        )
    return RedirectResponse(f"/monitoring/checklist?district={item.district_id}&done=saved", status_code=303)


# ------------------------------------------------------------------ one inspection


async def _inspection_page(
    request: Request, inspection_id: int, *, error: str | None = None, status_code: int = 200
) -> Response:
    async with web.database(request).transaction() as session:
        view = await monitoring.get(session, access=web.access_of(request), inspection_id=inspection_id)
    return web.render(
        request,
        "monitoring_inspection.html",
        status_code=status_code,
        v=view,
        i=view.inspection,
        kinds=monitoring.KINDS,
        verdicts=monitoring.VERDICTS,
        statuses=monitoring.STATUSES,
        preview=monitoring.summary_text(view) if view.inspection.status == "done" else None,
        error=error,
        done=_done(request),
        today=clock.today(),
        may_write=web.access_of(request).can_write,
    )


@router.get("/monitoring/{inspection_id}")
async def inspection_page(request: Request, inspection_id: forms.PathId) -> Response:
    """One inspection: its checklist with results, follow-ups, and sharing with the provider."""
    return await _inspection_page(request, inspection_id)


async def _change(request: Request, inspection_id: int, do: Any, done: str) -> Response:
    try:
        async with web.database(request).transaction() as session:
            await do(session)
    except (NotFound, PermissionDenied):
        raise
    except AppError as err:
        return await _inspection_page(request, inspection_id, error=_message(err), status_code=_status(err))
    return RedirectResponse(f"/monitoring/{inspection_id}?done={done}", status_code=303)


@router.post("/monitoring/{inspection_id}/results")
async def inspection_results(
    request: Request, inspection_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Record the result of each checklist item (verdict_<item id>, note_<item id>), the visit's date and a summary."""
    form = await request.form()
    results: dict[int, tuple[str, str | None]] = {}
    for key, value in form.multi_items():
        found = _VERDICT.match(key)
        if found is None or not isinstance(value, str) or not value:
            continue
        item_id = int(found.group(1))
        if not 1 <= item_id <= forms.INT4_MAX:
            raise NotFound()
        note = form.get(f"note_{item_id}")
        results[item_id] = (value[:10], str(note)[:500] if isinstance(note, str) else None)

    async def do(session: Any) -> None:
        body = forms.parse(forms.InspectionDone, form)
        await monitoring.record_results(
            session,
            access=web.access_of(request),
            inspection_id=inspection_id,
            done_on=body.done_on,
            results=results,
            summary=body.summary,
        )

    return await _change(request, inspection_id, do, "recorded")


@router.post("/monitoring/{inspection_id}/followups")
async def inspection_followup(
    request: Request, inspection_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    form = await request.form()

    async def do(session: Any) -> None:
        body = forms.parse(forms.InspectionFollowup, form)
        await monitoring.add_followup(
            session, access=web.access_of(request), inspection_id=inspection_id, text=body.text, due_on=body.due_on
        )

    return await _change(request, inspection_id, do, "followup")


@router.post("/monitoring/followups/{action_id}/done")
async def followup_done(
    request: Request, action_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    form = await request.form()
    body = forms.parse(forms.FollowupDone, form)
    async with web.database(request).transaction() as session:
        action = await monitoring.close_followup(
            session, access=web.access_of(request), action_id=action_id, note=body.note
        )
    back = "/monitoring" if form.get("back") == "list" else f"/monitoring/{action.inspection_id}"
    return RedirectResponse(f"{back}?done=closed", status_code=303)


@router.post("/monitoring/{inspection_id}/share")
async def inspection_share(
    request: Request, inspection_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Send the results' summary to the provider's staff on the bot (through the outbox) and record it."""

    async def do(session: Any) -> None:
        await monitoring.share(session, access=web.access_of(request), inspection_id=inspection_id)

    return await _change(request, inspection_id, do, "shared")
