"""Entitlements on the resident and order pages: the desk's eligibility decision and how an order is paid."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import entitlements, queue, visits
from console import forms, web
from console.routes import orders as orders_routes
from console.routes import residents as residents_routes
from dolbom.errors import AppError, InvalidInput, RuleViolation
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])


def _date(value: object, *, required: bool) -> date | None:
    text = str(value or "").strip()
    if not text:
        if required:
            raise InvalidInput(N_("Please give the date as YYYY-MM-DD."))
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("Please give the date as YYYY-MM-DD.")) from None


def _error(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


@router.post("/residents/{resident_id}/eligibility")
async def eligibility_decide(
    request: Request, resident_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Record the desk's 돌봄SOS decision for the resident (a new row; the history stays)."""
    form = await request.form()
    try:
        eligible = str(form.get("eligible", "")).strip()
        if eligible not in ("yes", "no"):
            raise InvalidInput(N_("Choose whether the person is eligible."))
        valid_from = _date(form.get("valid_from"), required=True)
        assert valid_from is not None
        async with web.database(request).transaction() as session:
            await entitlements.decide(
                session,
                resident_id=resident_id,
                access=web.access_of(request),
                eligible=eligible == "yes",
                ground=str(form.get("ground", "")).strip() or None,
                situations=[str(s) for s in form.getlist("situations")],
                income_tier=str(form.get("income_tier", "")).strip(),
                valid_from=valid_from,
                valid_until=_date(form.get("valid_until"), required=False),
                note=str(form.get("note", ""))[: forms.MAX_TEXT],
            )
    except InvalidInput as err:
        return await residents_routes.show(request, resident_id, error=_error(err), status_code=400)
    return RedirectResponse(f"/residents/{resident_id}?done=decided", status_code=303)


@router.post("/orders/{order_id}/funding/{funding}")
async def funding_choose(
    request: Request, order_id: forms.PathId, funding: str, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Record how the order is paid: public, fully by the resident, or the excess by the resident (with consent)."""
    form = await request.form()
    try:
        async with web.database(request).transaction() as session:
            await entitlements.choose_funding(
                session,
                order_id=order_id,
                access=web.access_of(request),
                funding=funding,
                consent_note=str(form.get("consent_note", ""))[: forms.MAX_TEXT],
            )
    except (InvalidInput, RuleViolation) as err:
        return await orders_routes.show(request, order_id, error=_error(err), status_code=400)
    return RedirectResponse(f"/orders/{order_id}?done=funding#entitlement", status_code=303)


@router.post("/orders/{order_id}/visits/{step}")
async def visit_record(
    request: Request, order_id: forms.PathId, step: str, operator: Operator = Depends(web.require_writer)
) -> Response:
    """The desk records a visit or a no-show for the provider (step=record), or completes from the visits."""
    if step not in ("record", "complete"):
        return await orders_routes.show(
            request, order_id, error=gettext(N_("The page could not be found.")), status_code=404
        )
    form = await request.form()
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            await queue.get_visible(session, order_id=order_id, access=access)
            if step == "record":
                day = _date(form.get("day"), required=True)
                assert day is not None
                kind = str(form.get("kind", "delivered"))
                try:
                    units = int(str(form.get("units", "0") or "0"))
                except ValueError:
                    raise InvalidInput(N_("Please give at least one unit.")) from None
                await visits.record(
                    session,
                    order_id=order_id,
                    day=day,
                    units=units,
                    kind=kind,
                    reason=str(form.get("reason", ""))[: forms.MAX_TEXT],
                    actor=web.actor_of(operator),
                )
            else:
                await visits.complete_from_visits(session, order_id=order_id, actor=web.actor_of(operator))
    except (InvalidInput, RuleViolation) as err:
        return await orders_routes.show(request, order_id, error=_error(err), status_code=400)
    return RedirectResponse(f"/orders/{order_id}#visits", status_code=303)
