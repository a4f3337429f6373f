"""만족도: the satisfaction answers per provider and per service by month, their comments, the people the bot
could not ask (to call), the phone survey's answer form, and the XLSX download. From care.satisfaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import labels, satisfaction, statistics
from console import exports, forms, web
from dolbom.errors import AppError, ConflictError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/satisfaction", N_("Satisfaction"), ("admin", "operator", "viewer"))]
DONE = {
    "phone": N_("The answer is written down. It counts in the figures."),
    "already": N_("Someone has already written down this person's answer. It was not changed."),
}


class Score(forms.In):
    """The phone survey's answer."""

    score: forms.OptCount = None
    comment: forms.Text | None = None


def _district(request: Request) -> int | None:
    raw = (request.query_params.get("district") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= forms.INT4_MAX:
        raise InvalidInput()
    return int(raw)


@router.get("/satisfaction")
async def satisfaction_page(request: Request) -> Response:
    """The answers by provider and by service, month by month; the comments; the people to call."""
    access = web.access_of(request)
    params = request.query_params
    try:
        months = satisfaction.parse_months(params)
        district_id = _district(request)
    except InvalidInput as err:
        return web.render(
            request,
            "satisfaction.html",
            status_code=400,
            error=gettext(err.msgid),
            report=None,
            params=params,
            districts=[],
            can_write=access.can_write,
        )
    async with web.database(request).transaction() as session:
        report = await satisfaction.get_report(session, access=access, months=months, district_id=district_id)
        districts = (await statistics.places(session, access=access, district_id=None))["districts"]
    done = params.get("done")
    return web.render(
        request,
        "satisfaction.html",
        report=report,
        params=params,
        districts=districts,
        can_write=access.can_write,
        via=satisfaction.VIA,
        notice=gettext(DONE[done]) if done in DONE else None,
    )


def sheets_of(report: satisfaction.Report) -> list[exports.Sheet]:
    """Return the workbook's sheets: by provider, by service (answers and average per month), comments, to call."""
    keys = report.months.keys
    header_months: list[str] = []
    for key in keys:
        header_months += [f"{key} {gettext(N_('Answers'))}", f"{key} {gettext(N_('Average'))}"]

    def lines(
        title: str, head: str, rows: list[satisfaction.Line], name: Callable[[satisfaction.Line], str]
    ) -> exports.Sheet:
        return exports.Sheet(
            title=title,
            header=[
                head,
                gettext(N_("Answers")),
                gettext(N_("Average (1–5)")),
                gettext(N_("By phone")),
                gettext(N_("Comments")),
                *header_months,
            ],
            rows=[
                [
                    name(line),
                    line.overall.answers,
                    line.overall.average,
                    line.overall.by_phone,
                    line.overall.comments,
                    *[v for key in keys for v in (line.months[key].answers, line.months[key].average)],
                ]
                for line in rows
            ],
        )

    provider_name = lambda line: line.label or gettext(satisfaction.NO_PROVIDER)  # noqa: E731
    service_name = lambda line: labels.label(labels.SERVICE, line.key)  # noqa: E731
    return [
        lines(gettext(N_("By provider")), gettext(N_("Provider")), report.providers, provider_name),
        lines(gettext(N_("By service")), gettext(N_("Service")), report.services, service_name),
        exports.Sheet(
            title=gettext(N_("Answers and comments")),
            header=[
                gettext(N_("Answered")),
                gettext(N_("Provider")),
                gettext(N_("Service")),
                gettext(N_("Score")),
                gettext(N_("Comment")),
                gettext(N_("Asked by")),
                gettext(N_("Receipt")),
            ],
            rows=[
                [
                    a.answered_at,
                    a.provider,
                    labels.label(labels.SERVICE, a.service_code),
                    a.score,
                    a.comment or "",
                    gettext(satisfaction.VIA[a.via]),
                    a.receipt_no,
                ]
                for a in report.answers
            ],
        ),
        exports.Sheet(
            title=gettext(N_("To ask by phone")),
            header=[
                gettext(N_("Name")),
                gettext(N_("Phone")),
                gettext(N_("Receipt")),
                gettext(N_("Service")),
                gettext(N_("Provider")),
                gettext(N_("Done")),
            ],
            rows=[
                [c.name, c.phone, c.receipt_no, labels.label(labels.SERVICE, c.service_code), c.provider, c.done_at]
                for c in report.to_call
            ],
        ),
    ]


@router.post("/satisfaction/export")
async def satisfaction_export(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Download the page as one XLSX workbook (a reason is asked and logged: it names people to call)."""
    form = await request.form()
    access = web.access_of(request)
    values = {k: str(form.get(k) or "") for k in ("from", "to")}
    try:
        months = satisfaction.parse_months(values)
        raw = str(form.get("district") or "").strip()
        district_id = int(raw) if raw.isdigit() and 0 < int(raw) <= forms.INT4_MAX else None
        async with web.database(request).transaction() as session:
            report = await satisfaction.export_report(
                session, access=access, months=months, reason=str(form.get("reason") or ""), district_id=district_id
            )
    except NotFound:
        raise
    except InvalidInput as err:
        return web.render(
            request,
            "satisfaction.html",
            status_code=400,
            error=gettext(err.msgid),
            report=None,
            params=values,
            districts=[],
            can_write=access.can_write,
        )
    name = f"satisfaction-{months.keys[0]}-{months.keys[-1]}"
    return exports.workbook(name=name, sheets=sheets_of(report))


@router.post("/satisfaction/{survey_id}/phone")
async def satisfaction_phone(
    request: Request,
    survey_id: forms.PathId,
    body: Annotated[Score, Form()],
    _op: Operator = Depends(web.require_writer),
) -> Response:
    """Write down the phone survey's answer (score 1–5, comment); someone else's answer first is kept."""
    try:
        async with web.database(request).transaction() as session:
            await satisfaction.record_phone_answer(
                session, access=web.access_of(request), survey_id=survey_id, score=body.score, comment=body.comment
            )
    except ConflictError:
        return RedirectResponse("/satisfaction?done=already#to-call", status_code=303)
    except NotFound:
        raise
    except AppError as err:
        if isinstance(err, PermissionDenied):
            raise
        return web.render(
            request,
            "satisfaction.html",
            status_code=400,
            error=gettext(err.msgid),
            report=None,
            params={},
            districts=[],
            can_write=True,
        )
    return RedirectResponse("/satisfaction?done=phone#to-call", status_code=303)
