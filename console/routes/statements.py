"""본인부담금: the month's statements (who owes what, paid or not), each resident's printable A4 statement,
and the payments and refunds (환급) recorded on it, with the month's download."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from care import labels, settlement, statements
from console import exports, forms, web
from dolbom import clock
from dolbom.errors import AppError, InvalidInput, RuleViolation
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/statements", N_("Co-payments"), ("admin", "operator", "viewer"))]


def _error(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


@router.get("/statements")
async def statements_page(request: Request) -> Response:
    """The month's 본인부담금 statements: each resident with a co-payment, what is due, paid, left."""
    try:
        year, month = settlement.parse_month(request.query_params.get("month"))
    except InvalidInput as err:
        return web.render(request, "statements.html", status_code=400, error=gettext(err.msgid), month="",
                          statements=[])  # fmt: skip
    async with web.database(request).transaction() as session:
        found = await statements.for_month(session, access=web.access_of(request), year=year, month=month)
    return web.render(request, "statements.html", month=f"{year}-{month:02d}", statements=found, error=None)


async def _statement(request: Request, resident_id: int, *, month_text: str | None, error: str | None = None,
                     status_code: int = 200) -> Response:  # fmt: skip
    try:
        year, month = settlement.parse_month(month_text)
    except InvalidInput as err:
        return web.render(request, "error.html", status_code=400, message=gettext(err.msgid))
    async with web.database(request).transaction() as session:
        found = await statements.get(
            session, access=web.access_of(request), resident_id=resident_id, year=year, month=month
        )
    return web.render(request, "statement.html", status_code=status_code, s=found, error=error,
                      today=clock.local_now().date().isoformat())  # fmt: skip


@router.get("/statements/{resident_id}")
async def statement_page(request: Request, resident_id: forms.PathId) -> Response:
    """One resident's statement of a month: a printable A4 page in Korean (visits, amounts, how to pay)."""
    return await _statement(request, resident_id, month_text=request.query_params.get("month"))


def _amount(value: object) -> int:
    text = str(value or "").strip().replace(",", "").removesuffix("원").strip()
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(N_("Please give an amount in won, more than 0."))
    return int(text)


@router.post("/statements/{resident_id}/payments")
async def payment_record(
    request: Request, resident_id: forms.PathId, _op: Operator = Depends(web.require_writer)
) -> Response:
    """Record a payment (date, amount, method) or a refund (환급, with its reason) on the month's statement."""
    form = await request.form()
    month_text = str(form.get("month", ""))
    try:
        year, month = settlement.parse_month(month_text)
        try:
            day = date.fromisoformat(str(form.get("day", "")).strip())
        except ValueError:
            raise InvalidInput(N_("Please give the date as YYYY-MM-DD.")) from None
        async with web.database(request).transaction() as session:
            await statements.record(
                session,
                access=web.access_of(request),
                resident_id=resident_id,
                year=year,
                month=month,
                kind=str(form.get("kind", "payment")),
                day=day,
                amount=_amount(form.get("amount")),
                method=str(form.get("method", "")),
                reason=str(form.get("reason", ""))[: forms.MAX_TEXT],
            )
    except (InvalidInput, RuleViolation) as err:
        return await _statement(request, resident_id, month_text=month_text, error=_error(err), status_code=400)
    return RedirectResponse(f"/statements/{resident_id}?month={year}-{month:02d}", status_code=303)


HEADER = [
    "이용자번호",
    "이름",
    "정산월",
    "이용 금액(원)",
    "공공 지원(원)",
    "본인부담금(원)",
    "납부(원)",
    "환급(원)",
    "남은 금액(원)",
    "상태",
]
MONEY = (3, 4, 5, 6, 7, 8)


def rows_of(found: list[statements.Statement]) -> list[list[str | int]]:
    """Return the statements' rows and the totals row (the same numbers as the page)."""
    rows: list[list[str | int]] = [
        [s.resident.id or 0, s.resident.name, s.label, s.total, s.public, s.due, s.paid, s.refunded, s.balance,
         labels.label(labels.STATEMENT_STATE, s.state)]
        for s in found
    ]  # fmt: skip
    rows.append(
        ["합계", "", "", sum(s.total for s in found), sum(s.public for s in found), sum(s.due for s in found),
         sum(s.paid for s in found), sum(s.refunded for s in found), sum(s.balance for s in found), ""]
    )  # fmt: skip
    return rows


@router.post("/statements/export")
async def statements_export(request: Request, _op: Operator = Depends(web.require_writer)) -> Response:
    """Download the month's statements as XLSX or CSV (formula-inert), with a required reason."""
    form = await request.form()
    try:
        year, month = settlement.parse_month(str(form.get("month", "")))
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise InvalidInput(N_("Please say why you download this."))
    except InvalidInput as err:
        return web.render(request, "statements.html", status_code=400, error=gettext(err.msgid), month="",
                          statements=[])  # fmt: skip
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        found = await statements.for_month(session, access=access, year=year, month=month)
        await access.log(session, action="statement_export", resident_ids=[s.resident.id or 0 for s in found] or None,
                         reason=reason[:200], detail=f"{year}-{month:02d}")  # fmt: skip
    fmt = "xlsx" if str(form.get("format", "")) == "xlsx" else "csv"
    return exports.response(fmt, name=f"copayments-{year}-{month:02d}", header=HEADER, rows=rows_of(found),
                            money=MONEY, title="본인부담금")  # fmt: skip
