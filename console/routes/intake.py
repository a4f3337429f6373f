"""Phone intake: the desk types a request that came in by phone (same checks as the bot)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import catalog, entitlements, intake, orders, parsing, phone_intake
from care.residents import INCOME_TIERS
from console import forms, web
from dolbom.errors import AppError, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import District, Dong, Operator, Order

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/intake", N_("Phone request"), ("admin", "operator"))]
TRI = {"yes": True, "no": False}


async def _choices(request: Request) -> dict[str, Any]:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        dq = select(Dong).order_by(col(Dong.name))
        districts_q = select(District).order_by(col(District.name))
        if access.district_id is not None:
            dq = dq.where(col(Dong.district_id) == access.district_id)
            districts_q = districts_q.where(col(District.id) == access.district_id)
        dongs = list((await session.execute(dq)).scalars())
        districts = list((await session.execute(districts_q)).scalars())
    return {
        "dongs": dongs,
        "districts": districts,
        "services": [d.code.value for d in catalog.DEFAULTS],
        "income_tiers": INCOME_TIERS,
        "urgencies": orders.URGENCIES,
    }


async def _form(
    request: Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    repeat: Order | None = None,
    estimate: str | None = None,
) -> Response:
    script, sensitive = phone_intake.consent_script()
    return web.render(
        request,
        "intake.html",
        status_code=status_code,
        v=values,
        errors=errors,
        script=script,
        sensitive_script=sensitive,
        repeat=repeat,
        estimate=estimate,
        repeat_days=phone_intake.REPEAT_DAYS,
        **(await _choices(request)),
    )


@router.get("/intake")
async def intake_form(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    return await _form(request, values={"units": "1", "urgency": "normal", "income_tier": "unknown"}, errors={})


def _error(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


@router.post("/intake")
async def intake_submit(request: Request, operator: Operator = Depends(web.require_writer)) -> Response:
    form = await request.form()
    v = {k: str(val).strip() for k, val in form.items() if k != "csrf_token"}
    # A registration number anywhere is refused, and nothing of the form is kept or echoed back.
    if any(parsing.contains_registration_number(text) for text in v.values()):
        clean = {k: ("" if parsing.contains_registration_number(val) else val) for k, val in v.items()}
        errors = {"form": gettext(RegistrationNumberRefused.msgid)}
        return await _form(request, values=clean, errors=errors, status_code=422)
    access = web.access_of(request)
    # 예상 금액 보기: nothing is stored, so consent is not needed yet to see the amounts.
    only_estimate = v.get("step") == "estimate"
    try:
        body = forms.parse(forms.Intake, {**v, "consent": "yes"} if only_estimate else form)
    except forms.InvalidFields as err:
        return await _form(request, values=v, errors=err.translated(), status_code=400)
    district_id = access.district_id if access.district_id is not None else body.district_id
    if district_id is None:
        errors = {"district_id": gettext(N_("Please choose a district."))}
        return await _form(request, values=v, errors=errors, status_code=400)
    req = intake.IntakeRequest(
        district_id=district_id,
        service_code=body.service,
        name=body.name,
        phone=body.phone,
        units=body.units,
        dong_id=body.dong_id,
        address=body.address or None,
        birth_year=body.birth_year,
        disabled=TRI.get(body.disabled or ""),
        cannot_manage_alone=TRI.get(body.cannot_manage_alone or ""),
        no_public_service=TRI.get(body.no_public_service or ""),
        no_family_care=TRI.get(body.no_family_care or ""),
        income_tier=body.income_tier,
        requested_date=body.requested_date,
        notes=body.notes or None,
        urgency=body.urgency,
        consent=True,
        sensitive_consent=body.sensitive_consent,
        from_health_center=body.from_health_center,
    )
    async with web.database(request).transaction() as session:
        estimate = entitlements.estimate_text(await intake.estimate(session, request=req))
    if only_estimate:
        return await _form(request, values=v, errors={}, estimate=estimate)
    if v.get("repeat_ok") != "yes":
        # The same caller asked for the same service lately: show that order first; they may go on.
        async with web.database(request).transaction() as session:
            repeat = await phone_intake.find_recent_repeat(
                session, access=access, district_id=district_id, phone=body.phone, service_code=body.service
            )
        if repeat is not None:
            return await _form(request, values=v, errors={}, repeat=repeat, estimate=estimate)
    try:
        async with web.database(request).transaction() as session:
            order = await intake.submit(
                session,
                request=req,
                channel="phone",
                user_key=None,
                actor=web.actor_of(operator, channel="phone"),
                access=access,
            )
    except AppError as err:
        status = 422 if isinstance(err, RegistrationNumberRefused) else 400
        return await _form(request, values=v, errors={"form": _error(err)}, status_code=status)
    return RedirectResponse(f"/orders/{order.id}?done=intake", status_code=303)
