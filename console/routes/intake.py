"""Phone intake: the desk types a request that came in by phone (same checks as the bot)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from care import catalog, intake, orders, parsing
from care.residents import INCOME_TIERS
from console import web
from dolbom import clock
from dolbom.errors import AppError, InvalidInput, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import District, Dong, Operator

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
    request: Request, *, values: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    return web.render(
        request, "intake.html", status_code=status_code, v=values, errors=errors, **(await _choices(request))
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
    errors: dict[str, str] = {}
    # A registration number anywhere is refused, and nothing of the form is kept or echoed back.
    if any(parsing.contains_registration_number(text) for text in v.values()):
        clean = {k: ("" if parsing.contains_registration_number(val) else val) for k, val in v.items()}
        errors["form"] = gettext(RegistrationNumberRefused.msgid)
        return await _form(request, values=clean, errors=errors, status_code=422)

    def field(key: str, parse: Any) -> Any:
        try:
            return parse(v.get(key, ""))
        except AppError as err:
            errors[key] = _error(err)
        except (TypeError, ValueError):
            errors[key] = gettext(InvalidInput.msgid)
        return None

    def required(text: str) -> str:
        if not text:
            raise InvalidInput(N_("Please fill this in."))
        return text

    today = clock.today()
    name = field("name", required)
    phone = field("phone", parsing.parse_phone)
    birth_year = field("birth_year", lambda t: parsing.parse_birth_year(t, today=today) if t else None)
    requested = field("requested_date", lambda t: parsing.parse_date(t, today=today) if t else None)
    units = field("units", lambda t: int(t) if t else 1)
    if units is not None and not 1 <= units <= 999:
        errors["units"] = gettext(N_("Please give at least one unit."))
    service = v.get("service", "")
    if service not in catalog.BY_CODE:
        errors["service"] = gettext(N_("Please choose a service."))
    if v.get("consent") != "yes":
        errors["consent"] = gettext(N_("A request can only be stored with consent."))
    access = web.access_of(request)
    district_id = access.district_id if access.district_id is not None else web.form_int(v.get("district_id"))
    if district_id is None:
        errors["district_id"] = gettext(N_("Please choose a district."))
    if errors:
        return await _form(request, values=v, errors=errors, status_code=400)
    req = intake.IntakeRequest(
        district_id=district_id,  # type: ignore[arg-type]
        service_code=service,
        name=name,
        phone=phone,
        units=units or 1,
        dong_id=web.form_int(v.get("dong_id")),
        address=v.get("address") or None,
        birth_year=birth_year,
        disabled=TRI.get(v.get("disabled", "")),
        cannot_manage_alone=TRI.get(v.get("cannot_manage_alone", "")),
        no_public_service=TRI.get(v.get("no_public_service", "")),
        no_family_care=TRI.get(v.get("no_family_care", "")),
        income_tier=v["income_tier"] if v.get("income_tier") in INCOME_TIERS else "unknown",
        requested_date=requested,
        notes=v.get("notes") or None,
        urgency=v["urgency"] if v.get("urgency") in orders.URGENCIES else "normal",
        consent=True,
        sensitive_consent=v.get("sensitive_consent") == "yes",
    )
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
        errors["form"] = _error(err)
        status = 422 if isinstance(err, RegistrationNumberRefused) else 400
        return await _form(request, values=v, errors=errors, status_code=status)
    return RedirectResponse(f"/orders/{order.id}?done=intake", status_code=303)
