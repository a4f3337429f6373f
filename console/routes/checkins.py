"""Today's check-ins board (missed first, with the numbers to call), desk notices, and the outbox dead letters."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import checkins, deadletters, labels, notices, registration_numbers
from care.parsing import MSG_DATE_UNKNOWN
from console import web
from dolbom import clock
from dolbom.errors import InvalidInput
from dolbom.i18n import N_
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [
    ("/checkins", N_("Check-ins"), ("admin", "operator", "viewer")),
    ("/notices", N_("Notices"), ("admin", "operator", "viewer")),
]

SLOT_STATUS = labels.CHECKIN_STATUS
BOARD_COLUMNS = ("sent", "answered", "reminded", "missed", "escalated", "unreachable")


@router.get("/checkins")
async def board(request: Request) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        rows = await checkins.board(session, access=access)
    counts = {key: sum(1 for r in rows if r.slot.status == key) for key in BOARD_COLUMNS}
    return web.render(
        request,
        "checkins.html",
        rows=rows,
        counts=counts,
        columns=BOARD_COLUMNS,
        status_label=SLOT_STATUS,
        day=clock.today(),
        is_admin=request.state.operator.role == "admin",
    )


@router.get("/checkins/outbox")
async def dead_letters(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    async with web.database(request).transaction() as session:
        rows = await deadletters.list_for_review(session, access=web.access_of(request))
    return web.render(request, "checkins_outbox.html", rows=rows, done=request.query_params.get("done"))


@router.post("/checkins/outbox/{row_id}/requeue")
async def requeue(request: Request, row_id: int, _op: Operator = Depends(web.require_admin)) -> Response:
    async with web.database(request).transaction() as session:
        changed = await deadletters.requeue(session, access=web.access_of(request), row_id=row_id)
    return RedirectResponse(f"/checkins/outbox?done={'requeued' if changed else 'unchanged'}", status_code=303)


@router.get("/notices")
async def notices_page(request: Request) -> Response:
    async with web.database(request).transaction() as session:
        rows = await notices.list_for_desk(session, access=web.access_of(request))
    return web.render(request, "checkins_notices.html", rows=rows)


@router.post("/notices/{notice_id}/read")
async def notice_read(request: Request, notice_id: int, _op: Operator = Depends(web.require_writer)) -> Response:
    async with web.database(request).transaction() as session:
        await notices.mark_read(session, notice_id=notice_id, access=web.access_of(request))
    return RedirectResponse("/notices", status_code=303)


@router.get("/checkins/schedule/{resident_id}")
async def schedule_form(request: Request, resident_id: int) -> Response:
    async with web.database(request).transaction() as session:
        resident, schedule = await checkins.get_for_desk(
            session, resident_id=resident_id, access=web.access_of(request)
        )
    return web.render(
        request,
        "checkins_schedule.html",
        resident=resident,
        schedule=schedule,
        weekday_names=checkins.WEEKDAY_NAMES,
        saved=request.query_params.get("done") == "saved",
        error=None,
    )


@router.post("/checkins/schedule/{resident_id}")
async def schedule_save(request: Request, resident_id: int, _op: Operator = Depends(web.require_writer)) -> Response:
    form = await request.form()
    weekdays = [int(str(d)) for d in form.getlist("weekdays") if str(d).isdigit()]
    hh, _, mm = str(form.get("time") or "").partition(":")
    at_minute = int(hh) * 60 + int(mm or 0) if hh.isdigit() and (mm or "0").isdigit() else -1
    paused = str(form.get("paused_until") or "").strip()
    try:
        paused_until = date.fromisoformat(paused) if paused else None
    except ValueError:
        # Never into a traceback: a number typed here is refused (422), anything else is 400.
        registration_numbers.refuse(paused)
        raise InvalidInput(MSG_DATE_UNKNOWN) from None
    async with web.database(request).transaction() as session:
        await checkins.update_for_desk(
            session,
            resident_id=resident_id,
            access=web.access_of(request),
            stop_all=form.get("stop") == "yes",
            weekdays=weekdays,
            at_minute=at_minute,
            paused_until=paused_until,
            alert_family=form.get("alert_family") == "yes",
            alert_care_manager=form.get("alert_care_manager") == "yes",
        )
    return RedirectResponse(f"/checkins/schedule/{resident_id}?done=saved", status_code=303)
