"""점검: the list of billing flags (부정결제 checks) the desk works through, each resolved with a note."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import billing_checks, settlement
from console import forms, web
from dolbom.errors import ConflictError, InvalidInput, RegistrationNumberRefused, RuleViolation
from dolbom.i18n import gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/checks", billing_checks.TITLE, ("admin", "operator", "viewer"))]


async def _page(
    request: Request, *, month_text: str | None, resolved: bool, error: str | None = None, status_code: int = 200
) -> Response:
    try:
        year, month = settlement.parse_month(month_text)
    except InvalidInput as err:
        return web.render(request, "checks.html", status_code=400, error=gettext(err.msgid), board=None, month="",
                          resolved=resolved, kinds=billing_checks.KINDS)  # fmt: skip
    async with web.database(request).transaction() as session:
        board = await billing_checks.board(
            session, access=web.access_of(request), year=year, month=month, resolved=resolved
        )
    return web.render(request, "checks.html", status_code=status_code, board=board, month=f"{year}-{month:02d}",
                      resolved=resolved, error=error, kinds=billing_checks.KINDS)  # fmt: skip


@router.get("/checks")
async def checks_page(request: Request) -> Response:
    """The month's open flags (and the resolved ones with show=all), each with its visits."""
    return await _page(
        request, month_text=request.query_params.get("month"), resolved=request.query_params.get("show") == "all"
    )


@router.post("/checks/{order_id}/resolve")
async def checks_resolve(
    request: Request, order_id: forms.PathId, operator: Operator = Depends(web.require_writer)
) -> Response:
    """Resolve one flag about an order of the operator's district with a note."""
    form = await request.form()
    month_text = str(form.get("month", ""))[:7]
    try:
        year, month = settlement.parse_month(month_text)
        async with web.database(request).transaction() as session:
            await billing_checks.resolve(
                session,
                access=web.access_of(request),
                order_id=order_id,
                key=str(form.get("key", ""))[:200],
                fingerprint=str(form.get("fingerprint", ""))[:64],
                note=str(form.get("note", ""))[: forms.MAX_TEXT],
                year=year,
                month=month,
                operator_id=operator.id,
            )
    except (InvalidInput, RuleViolation, ConflictError) as err:
        status = 409 if isinstance(err, ConflictError) else 400
        if isinstance(err, (RuleViolation, RegistrationNumberRefused)):
            status = 422
        message = gettext(billing_checks.MSG_CHANGED) if isinstance(err, ConflictError) else gettext(err.msgid)
        return await _page(request, month_text=month_text or None, resolved=False, error=message, status_code=status)
    return RedirectResponse(f"/checks?month={year}-{month:02d}&done=resolved", status_code=303)
