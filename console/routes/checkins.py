"""Today's check-ins board (missed first, with the numbers to call), desk notices, and the outbox dead letters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import checkins, deadletters, labels, notices
from console import forms, web
from dolbom import clock
from dolbom.errors import ConflictError
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
    taken = request.query_params.get("taken", "")
    return web.render(
        request,
        "checkins.html",
        rows=rows,
        counts=counts,
        columns=BOARD_COLUMNS,
        status_label=SLOT_STATUS,
        followups=checkins.FOLLOWUPS,
        taken=next((r for r in rows if str(r.slot.id) == taken), None),
        done=request.query_params.get("done"),
        day=clock.today(),
        is_admin=request.state.operator.role == "admin",
        can_write=request.state.operator.role != "viewer",
    )


@router.post("/checkins/{slot_id}/followup")
async def followup(
    request: Request,
    slot_id: forms.PathId,
    body: Annotated[forms.CheckinFollowup, Form()],
    _op: Operator = Depends(web.require_writer),
) -> Response:
    try:
        async with web.database(request).transaction() as session:
            await checkins.follow_up(
                session, slot_id=slot_id, access=web.access_of(request), outcome=body.outcome, note=body.note
            )
    except ConflictError:
        # Someone else was quicker: the board shows who did what, with a kind word.
        return RedirectResponse(f"/checkins?taken={slot_id}#slot-{slot_id}", status_code=303)
    return RedirectResponse(f"/checkins?done=followup#slot-{slot_id}", status_code=303)


@router.get("/checkins/attention")
async def attention(request: Request) -> Response:
    async with web.database(request).transaction() as session:
        missed, unreachable = await checkins.list_attention(session, access=web.access_of(request))
    return web.render(
        request, "checkins_attention.html", missed=missed, unreachable=unreachable, followups=checkins.FOLLOWUPS
    )


@router.get("/checkins/outbox")
async def dead_letters(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    async with web.database(request).transaction() as session:
        rows = await deadletters.list_for_review(session, access=web.access_of(request))
    return web.render(request, "checkins_outbox.html", rows=rows, done=request.query_params.get("done"))


@router.post("/checkins/outbox/{row_id}/requeue")
async def requeue(request: Request, row_id: forms.PathId, _op: Operator = Depends(web.require_admin)) -> Response:
    async with web.database(request).transaction() as session:
        changed = await deadletters.requeue(session, access=web.access_of(request), row_id=row_id)
    return RedirectResponse(f"/checkins/outbox?done={'requeued' if changed else 'unchanged'}", status_code=303)


@router.get("/notices")
async def notices_page(request: Request) -> Response:
    async with web.database(request).transaction() as session:
        rows = await notices.list_for_desk(session, access=web.access_of(request))
    return web.render(request, "checkins_notices.html", rows=rows)


@router.post("/notices/{notice_id}/read")
async def notice_read(
    request: Request, notice_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    async with web.database(request).transaction() as session:
        await notices.mark_read(session, notice_id=notice_id, access=web.access_of(request))
    return RedirectResponse("/notices", status_code=303)


@router.get("/checkins/schedule/{resident_id}")
async def schedule_form(request: Request, resident_id: forms.PathId) -> Response:
    async with web.database(request).transaction() as session:
        resident, schedule = await checkins.get_for_desk(
            session, resident_id=resident_id, access=web.access_of(request)
        )
    return web.render(
        request,
        "checkins_schedule.html",
        resident=resident,
        schedule=schedule,
        words=checkins.describe(schedule) if schedule and schedule.active else None,
        weekday_names=checkins.WEEKDAY_NAMES,
        saved=request.query_params.get("done") == "saved",
        error=None,
    )


@router.post("/checkins/schedule/{resident_id}")
async def schedule_save(
    request: Request,
    resident_id: forms.PathId,
    body: Annotated[forms.CheckinSchedule, Form()],
    _op: Operator = Depends(web.require_writer),
) -> Response:
    async with web.database(request).transaction() as session:
        await checkins.update_for_desk(
            session,
            resident_id=resident_id,
            access=web.access_of(request),
            stop_all=body.stop,
            weekdays=body.weekdays,
            at_minute=body.at_minute,
            paused_until=body.paused_until,
            alert_family=body.alert_family,
            alert_care_manager=body.alert_care_manager,
            second_minute=body.second_minute,
        )
    return RedirectResponse(f"/checkins/schedule/{resident_id}?done=saved", status_code=303)
