"""The order page and the desk's actions on it (each form carries the order's version)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import queue
from console import forms, web
from dolbom.errors import AppError, ConflictError, InvalidInput, NotFound
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])

DONE = {
    "screen": N_("The order is now being screened."),
    "assign": N_("The order was assigned."),
    "reassign": N_("The order was reassigned."),
    "return": N_("The order is back at the desk."),
    "complete": N_("The completion was recorded."),
    "cancel": N_("The order was cancelled."),
    "reject": N_("The order was rejected."),
    "note": N_("The note was saved."),
    "intake": N_("The phone request was received."),
}


async def _show(request: Request, order_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    async with web.database(request).transaction() as session:
        page = await queue.order_page(session, order_id=order_id, access=web.access_of(request))
    done = request.query_params.get("done")
    return web.render(
        request,
        "order.html",
        status_code=status_code,
        p=page,
        error=error,
        notice=gettext(DONE[done]) if done in DONE and error is None else None,
        can_write=request.state.operator.role in web.WRITERS,
    )


@router.get("/orders/{order_id}")
async def order_view(request: Request, order_id: forms.PathId) -> Response:
    return await _show(request, order_id)


@router.post("/orders/{order_id}/{action}")
async def order_action(
    request: Request,
    order_id: forms.PathId,
    action: str,
    operator: Operator = Depends(web.require_writer),
) -> Response:
    if action not in DONE or action == "intake":
        return await _show(request, order_id, error=gettext(N_("The page could not be found.")), status_code=404)
    actor = web.actor_of(operator)
    try:
        # The same model as POST /api/orders/{id}/{action}; parsed here so a bad field re-shows the page.
        body = forms.parse(forms.OrderAction, await request.form())
        async with web.database(request).transaction() as session:
            # Scope first: another district's order is 404 (and logged), whatever the action.
            await queue.get_visible(session, order_id=order_id, access=web.access_of(request))
            await queue.act(
                session,
                order_id=order_id,
                action=action,
                actor=actor,
                expected_version=body.version,
                provider_id=body.provider_id,
                reason=body.reason or "",
                units=body.units,
                approved=body.approve,
            )
    except ConflictError as err:
        return await _show(request, order_id, error=gettext(err.msgid), status_code=409)
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        status = 400 if isinstance(err, InvalidInput) else 422
        return await _show(request, order_id, error=gettext(err.msgid, **params), status_code=status)
    return RedirectResponse(f"/orders/{order_id}?done={action}", status_code=303)
