"""전화 안내: the changes of orders the desk tells by phone to residents with no messenger, ticked off once told."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import phone_calls
from console import forms, web
from dolbom.i18n import N_
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/calls", N_("Phone calls"), ("admin", "operator", "viewer"))]


@router.get("/calls")
async def calls_page(request: Request) -> Response:
    done = request.query_params.get("show") == "done"
    async with web.database(request).transaction() as session:
        rows = await phone_calls.list_for_desk(session, access=web.access_of(request), done=done)
    return web.render(
        request,
        "phone_calls.html",
        rows=rows,
        show_done=done,
        can_write=web.access_of(request).can_write,
        ticked=request.query_params.get("done"),
    )


@router.post("/calls/{call_id}/done")
async def call_done(request: Request, call_id: forms.PathId, _op: Operator = Depends(web.require_writer)) -> Response:
    async with web.database(request).transaction() as session:
        changed = await phone_calls.mark_done(session, call_id=call_id, access=web.access_of(request))
    return RedirectResponse(f"/calls?done={'ticked' if changed else 'already'}", status_code=303)
