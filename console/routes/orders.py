"""The order page and the desk's actions on it (each form carries the order's version)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import complaints, entitlements, identity, inbox, queue, visits
from console import forms, web
from dolbom.errors import AppError, ConflictError, InvalidInput, NotFound, RegistrationNumberRefused
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
    "desk_complete": N_("Recorded as finished at the desk."),
    "refer": N_("The referral was recorded and the order closed."),
    "intake": N_("The phone request was received."),
    "merged": N_("The records are joined into one."),
    "not_same": N_("Recorded as a different person."),
    "applied": N_("The change was applied to the record."),
    "set_aside": N_("The proposed change was set aside."),
    "funding": N_("How the order is paid was recorded."),
}


async def _show(request: Request, order_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    async with web.database(request).transaction() as session:
        page = await queue.order_page(session, order_id=order_id, access=web.access_of(request))
        who = await identity.for_order(session, order=page.order, access=web.access_of(request))
        threads = await inbox.list_for_order(session, access=web.access_of(request), order_id=order_id)
        order_complaints = await complaints.list_for_order(session, access=web.access_of(request), order_id=order_id)
        money, money_line = await entitlements.order_summary(session, order=page.order)
        order_visits = await visits.list_for_order(session, order_id=order_id)
    done = request.query_params.get("done")
    return web.render(
        request,
        "order.html",
        status_code=status_code,
        p=page,
        who=who,
        threads=threads,
        complaints=order_complaints,
        complaint_categories=complaints.CATEGORIES,
        complaint_statuses=complaints.STATUSES,
        inbox=inbox,
        money=money,
        money_line=money_line,
        visits=order_visits,
        delivered=visits.delivered(order_visits),
        today=entitlements.today(),
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
    if action not in DONE or action in ("intake", "funding"):
        return await _show(request, order_id, error=gettext(N_("The page could not be found.")), status_code=404)
    actor = web.actor_of(operator)
    try:
        # The same model as POST /api/orders/{id}/{action}; parsed here so a bad field re-shows the page.
        body = forms.parse(forms.OrderAction, await request.form())
        async with web.database(request).transaction() as session:
            await queue.act(
                session,
                access=web.access_of(request),
                order_id=order_id,
                action=action,
                actor=actor,
                expected_version=body.version,
                provider_id=body.provider_id,
                reason=body.reason or "",
                units=body.units,
                approved=body.approve,
                override=body.override,
                given_by=body.given_by or "",
                referred_to=body.referred_to or "",
                consult=body.consult,
            )
    except ConflictError as err:
        return await _show(request, order_id, error=gettext(err.msgid), status_code=409)
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        # A registration number is refused kindly (422) like the care rules; other bad input is a 400.
        status = 400 if isinstance(err, InvalidInput) and not isinstance(err, RegistrationNumberRefused) else 422
        return await _show(request, order_id, error=gettext(err.msgid, **params), status_code=status)
    return RedirectResponse(f"/orders/{order_id}?done={action}", status_code=303)


async def _identity_step(
    request: Request, order_id: int, done: str, step: Callable[..., Awaitable[object]]
) -> Response:
    """Run one desk decision about who the order is for, in the order's district; show the page again."""
    try:
        async with web.database(request).transaction() as session:
            access = web.access_of(request)
            order = await queue.get_visible(session, order_id=order_id, access=access)
            await step(session, order, access)
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        return await _show(request, order_id, error=gettext(err.msgid, **params), status_code=422)
    return RedirectResponse(f"/orders/{order_id}?done={done}", status_code=303)


@router.post("/orders/{order_id}/identity/merge")
async def order_merge(
    request: Request, order_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """The desk finds the asker is the person named: join the new record into theirs."""

    async def step(session: Any, order: Any, access: Any) -> None:
        await identity.merge(session, resident_id=order.resident_id, access=access)

    return await _identity_step(request, order_id, "merged", step)


@router.post("/orders/{order_id}/identity/not-same")
async def order_not_same(
    request: Request, order_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """The desk finds the asker is someone else with the same name and phone."""

    async def step(session: Any, order: Any, access: Any) -> None:
        await identity.dismiss(session, resident_id=order.resident_id, access=access)

    return await _identity_step(request, order_id, "not_same", step)


@router.post("/orders/{order_id}/proposed/{key}/{decision}")
async def order_proposal(
    request: Request, order_id: forms.PathId, key: str, decision: str, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Apply one value the request brought to the record, or set it aside."""
    if decision not in ("apply", "set-aside"):
        raise NotFound()

    async def step(session: Any, order: Any, access: Any) -> None:
        await identity.apply_proposed(session, order_id=order.id, key=key, apply=decision == "apply", access=access)

    return await _identity_step(request, order_id, "applied" if decision == "apply" else "set_aside", step)


show = _show  # the entitlement routes re-show the page with their error
