"""민원·사고: the list (open first), the new form (from the phone, an inbox conversation or an order), the detail
with its steps, and closing with an outcome. Everything goes through care.complaints with the operator's access.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from care import complaints, residents, statistics
from console import exports, forms, web
from dolbom.errors import AppError, ConflictError, InvalidInput, NotFound, PermissionDenied
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/complaints", N_("Complaints"), ("admin", "operator", "viewer"))]
ACTIONS = ("step", "close")
DONE = {
    "created": N_("The complaint is recorded."),
    "step": N_("The step is added."),
    "close": N_("The complaint is closed."),
}


class Filters(forms.In):
    """The list's filters."""

    status: forms.choice(complaints.STATUSES) = None  # type: ignore[valid-type]
    category: forms.choice(complaints.CATEGORIES) = None  # type: ignore[valid-type]
    provider: forms.OptId = None
    district: forms.OptId = None


class Prefill(forms.In):
    """What the new form starts with: a conversation, an order or a resident (each optional)."""

    thread: forms.OptId = None
    order: forms.OptId = None
    resident: forms.OptId = None
    district: forms.OptId = None


class ComplaintIn(forms.In):
    """A new complaint."""

    category: forms.choice(complaints.CATEGORIES) = None  # type: ignore[valid-type]
    what_happened: forms.Text | None = None
    steps_taken: forms.Text | None = None
    decided_by: forms.ShortText | None = None
    district_id: forms.OptId = None
    resident_id: forms.OptId = None
    order_id: forms.OptId = None
    provider_id: forms.OptId = None
    thread_id: forms.OptId = None


class ResidentSearch(forms.In):
    """A resident search inside the new form (POST: names stay out of URLs)."""

    q: forms.ShortText | None = None
    district_id: forms.OptId = None


class StepIn(forms.In):
    """A step taken, or the outcome that closes the complaint."""

    text: forms.Text | None = None
    outcome: forms.Text | None = None
    decided_by: forms.ShortText | None = None


def _message(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


def _status(err: AppError) -> int:
    if isinstance(err, PermissionDenied):
        return 403
    if isinstance(err, ConflictError):
        return 409
    return 400


@router.get("/complaints")
async def complaints_page(request: Request, query: Annotated[Filters, Query()]) -> Response:
    """The complaints of the district, open ones first, with the filters."""
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        rows = await complaints.list_complaints(
            session,
            access=access,
            status=query.status,
            category=query.category,
            provider_id=query.provider,
            district_id=query.district,
        )
        providers = await complaints.list_providers(session, access=access, district_id=query.district)
        open_count = await complaints.count_open(session, access=access)
        districts = await _districts(session, access)
    return web.render(
        request,
        "complaints.html",
        rows=rows,
        filters=query,
        providers=providers,
        open_count=open_count,
        districts=districts,
        categories=complaints.CATEGORIES,
        statuses=complaints.STATUSES,
        sources=complaints.SOURCES,
        can_write=access.can_write,
    )


class ExportIn(Filters):
    """The list's filters and why the download is made."""

    reason: forms.ShortText | None = None


@router.post("/complaints/export")
async def complaints_export(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Download the list (with its filters) as XLSX; a reason is asked and logged."""
    body = forms.parse(ExportIn, await request.form())
    access = web.access_of(request)
    try:
        async with web.database(request).transaction() as session:
            rows = await complaints.export_complaints(
                session,
                access=access,
                reason=body.reason,
                status=body.status,
                category=body.category,
                provider_id=body.provider,
                district_id=body.district,
            )
    except InvalidInput as err:
        return web.render(request, "error.html", status_code=400, message=_message(err), status=400)
    header = [gettext(m) for m in (N_("Received"), N_("Status"), N_("Kind"), N_("Came in by"), N_("Person"),
              N_("Provider"), N_("Receipt"), N_("What happened"), N_("Steps taken"), N_("Who decided what to do"),
              N_("Outcome"), N_("Concluded"))]  # fmt: skip
    table = [
        [
            r.complaint.created_at,
            gettext(complaints.STATUSES.get(r.complaint.status, r.complaint.status)),
            gettext(complaints.CATEGORIES.get(r.complaint.category, r.complaint.category)),
            gettext(complaints.SOURCES.get(r.complaint.source, r.complaint.source)),
            r.resident_name or "",
            r.provider_name or "",
            r.receipt_no or "",
            r.complaint.what_happened,
            r.steps,
            r.complaint.decided_by or "",
            r.complaint.outcome or "",
            r.complaint.closed_at,
        ]
        for r in rows
    ]
    return exports.response("xlsx", name="complaints", header=header, rows=table, title=gettext(N_("Complaints")))


async def _form(
    request: Request,
    *,
    thread_id: int | None = None,
    order_id: int | None = None,
    resident_id: int | None = None,
    district_id: int | None = None,
    search: str | None = None,
    values: ComplaintIn | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    access = web.access_of(request)
    found: list[Any] = []
    async with web.database(request).transaction() as session:
        links = await complaints.prefill(
            session, access=access, thread_id=thread_id, order_id=order_id, resident_id=resident_id
        )
        district = links.district_id or district_id
        if search:
            found = [
                r for r, _dong in (await residents.list_residents(session, access=access, search=search, limit=20))[0]
            ]
            if district is not None:
                found = [r for r in found if r.district_id == district]
        providers = await complaints.list_providers(session, access=access, district_id=district)
        districts = await _districts(session, access)
    return web.render(
        request,
        "complaint_new.html",
        status_code=status_code,
        links=links,
        district_id=district,
        districts=districts,
        found=found,
        search=search,
        providers=providers,
        values=values,
        categories=complaints.CATEGORIES,
        error=error,
    )


async def _districts(session: Any, access: Any) -> list[Any]:
    return (await statistics.places(session, access=access, district_id=None))["districts"]


@router.get("/complaints/new")
async def complaint_new(
    request: Request, query: Annotated[Prefill, Query()], _op: Operator = Depends(web.require_writer)
) -> Response:
    """The new-complaint form, filled from a conversation (?thread=), an order (?order=) or a resident."""
    return await _form(
        request, thread_id=query.thread, order_id=query.order, resident_id=query.resident, district_id=query.district
    )


@router.post("/complaints/new/search")
async def complaint_new_search(
    request: Request, body: Annotated[ResidentSearch, Form()], _op: Operator = Depends(web.require_writer)
) -> Response:
    """The new-complaint form with the residents whose name (or phone's last 4 digits) match, to pick one."""
    return await _form(request, search=body.q or None, district_id=body.district_id)


@router.post("/complaints")
async def complaint_create(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Record a complaint and go to it."""
    form = await request.form()
    try:
        body = forms.parse(ComplaintIn, form)
        async with web.database(request).transaction() as session:
            complaint = await complaints.create_complaint(
                session,
                access=web.access_of(request),
                category=body.category or "",
                what_happened=body.what_happened,
                steps_taken=body.steps_taken,
                decided_by=body.decided_by,
                district_id=body.district_id,
                resident_id=body.resident_id,
                order_id=body.order_id,
                provider_id=body.provider_id,
                thread_id=body.thread_id,
            )
    except NotFound:
        raise
    except AppError as err:
        if isinstance(err, PermissionDenied):
            raise
        given: dict[str, Any] = {k: str(v) for k, v in form.items() if k in ComplaintIn.model_fields}
        values = ComplaintIn.model_construct(**given)
        raw = dict(form.items())

        def opt(name: str) -> int | None:
            text = str(raw.get(name) or "")
            return int(text) if text.isdigit() and 0 < int(text) <= forms.INT4_MAX else None

        return await _form(
            request,
            thread_id=opt("thread_id"),
            order_id=opt("order_id"),
            resident_id=opt("resident_id"),
            district_id=opt("district_id"),
            values=values,
            error=_message(err),
            status_code=_status(err),
        )
    return RedirectResponse(f"/complaints/{complaint.id}?done=created", status_code=303)


async def _detail(request: Request, complaint_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        detail = await complaints.get_complaint(session, access=access, complaint_id=complaint_id)
    done = request.query_params.get("done")
    return web.render(
        request,
        "complaint.html",
        status_code=status_code,
        d=detail,
        categories=complaints.CATEGORIES,
        statuses=complaints.STATUSES,
        sources=complaints.SOURCES,
        can_write=access.can_write,
        error=error,
        notice=gettext(DONE[done]) if done in DONE and error is None else None,
    )


@router.get("/complaints/{complaint_id}")
async def complaint_page(request: Request, complaint_id: forms.PathId) -> Response:
    """One complaint with its steps, the step form and the closing form."""
    return await _detail(request, complaint_id)


@router.post("/complaints/{complaint_id}/{action}")
async def complaint_action(
    request: Request,
    complaint_id: forms.PathId,
    action: Literal["step", "close"],
    _op: Operator = Depends(web.require_writer),
) -> Response:
    """Add a step (step) or close with the outcome (close); a closing someone else made first is a 409."""
    try:
        body = forms.parse(StepIn, await request.form())
        async with web.database(request).transaction() as session:
            access = web.access_of(request)
            if action == "step":
                await complaints.add_step(session, access=access, complaint_id=complaint_id, text=body.text)
            else:
                await complaints.close_complaint(
                    session, access=access, complaint_id=complaint_id, outcome=body.outcome, decided_by=body.decided_by
                )
    except NotFound:
        raise
    except AppError as err:
        if isinstance(err, PermissionDenied):
            raise
        return await _detail(request, complaint_id, error=_message(err), status_code=_status(err))
    return RedirectResponse(f"/complaints/{complaint_id}?done={action}", status_code=303)
