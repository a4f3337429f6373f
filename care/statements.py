"""본인부담금: each resident's monthly statement of their own part, and the payments and refunds (환급) on it.

A statement is the resident's lines of the month's settlement (every visit, its public and own
part) and the adjustments paid in that month; what is due is the sum of the resident's parts.
Payments (date, amount, method) and refunds (with a reason) are recorded against the statement;
its state is paid, partly paid, unpaid, or refund due (more was paid than is owed). Every view
and every payment is written to the access log; another district's statements are not found.
Integer 원 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import months, settlement
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from storage.models import CopayPayment, District, Operator, Resident

METHODS = ("transfer", "cash", "card")
KINDS = ("payment", "refund")
MAX_AMOUNT = 100_000_000
STATES = ("paid", "partly_paid", "unpaid", "refund_due")


@dataclass(frozen=True)
class StatementLine:
    """One visit (or one order completed without visits) on the statement."""

    day: date
    receipt_no: str
    provider_name: str
    service_code: str
    units: int
    unit_price: int
    total: int
    public: int
    resident: int
    no_show: bool = False  # a no-show billed by the catalog's rule


@dataclass
class Statement:
    """A resident's month: lines, adjustments, what is due, what was paid and given back."""

    resident: Resident
    district: District
    year: int
    month: int
    lines: list[StatementLine] = field(default_factory=list)
    adjustments: list[settlement.AdjustmentLine] = field(default_factory=list)
    payments: list[CopayPayment] = field(default_factory=list)

    @property
    def label(self) -> str:
        return months.label(self.year, self.month)

    @property
    def total(self) -> int:
        return sum(x.total for x in self.lines) + sum(a.total for a in self.adjustments)

    @property
    def public(self) -> int:
        return sum(x.public for x in self.lines) + sum(a.public for a in self.adjustments)

    @property
    def due(self) -> int:
        """The resident's own part of the month (adjustments included)."""
        return sum(x.resident for x in self.lines) + sum(a.resident for a in self.adjustments)

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payments if p.kind == "payment")

    @property
    def refunded(self) -> int:
        return sum(p.amount for p in self.payments if p.kind == "refund")

    @property
    def balance(self) -> int:
        """What is still owed (negative: owed back to the resident)."""
        return self.due - (self.paid - self.refunded)

    @property
    def state(self) -> str:
        """paid | partly_paid | unpaid | refund_due."""
        if self.balance == 0:
            return "paid"
        if self.balance < 0:
            return "refund_due"
        return "partly_paid" if self.paid - self.refunded > 0 else "unpaid"


def _collect(
    providers: list[settlement.ProviderSettlement], district: District, residents: dict[int, Resident], year: int,
    month: int,
) -> dict[int, Statement]:  # fmt: skip
    result: dict[int, Statement] = {}

    def of(resident_id: int) -> Statement:
        if resident_id not in result:
            result[resident_id] = Statement(resident=residents[resident_id], district=district, year=year, month=month)
        return result[resident_id]

    for p in providers:
        for line in p.lines:
            if line.resident_id not in residents:
                continue
            of(line.resident_id).lines.append(
                StatementLine(
                    day=line.day,
                    receipt_no=line.receipt_no,
                    provider_name=p.provider_name,
                    service_code=line.service_code,
                    units=line.units,
                    unit_price=line.unit_price,
                    total=line.total,
                    public=line.public,
                    resident=line.resident,
                    no_show="no_show" in line.flags,
                )
            )
        for adj in p.adjustments:
            if adj.resident_id in residents:
                of(adj.resident_id).adjustments.append(adj)
    for s in result.values():
        s.lines.sort(key=lambda x: (x.day, x.receipt_no))
        s.adjustments.sort(key=lambda a: (a.day, a.adjustment_id))
    return result


async def _payments(
    session: AsyncSession, *, district_id: int, year: int, month: int, resident_id: int | None = None
) -> list[CopayPayment]:
    query = select(CopayPayment).where(
        col(CopayPayment.district_id) == district_id, col(CopayPayment.year) == year, col(CopayPayment.month) == month
    )
    if resident_id is not None:
        query = query.where(col(CopayPayment.resident_id) == resident_id)
    return list((await session.execute(query.order_by(col(CopayPayment.day), col(CopayPayment.id)))).scalars())


async def _district_month(
    session: AsyncSession, *, district: District, year: int, month: int, resident_id: int | None = None
) -> list[Statement]:
    assert district.id is not None
    providers = await settlement.monthly(session, district_id=district.id, year=year, month=month)
    payments = await _payments(session, district_id=district.id, year=year, month=month, resident_id=resident_id)
    ids = set(settlement.residents_of(providers)) | {p.resident_id for p in payments}
    if resident_id is not None:
        ids &= {resident_id}
    residents = {
        r.id: r for r in (await session.execute(select(Resident).where(col(Resident.id).in_(ids)))).scalars() if r.id
    }
    collected = _collect(providers, district, residents, year, month)
    for payment in payments:
        if payment.resident_id in residents:
            collected.setdefault(
                payment.resident_id,
                Statement(resident=residents[payment.resident_id], district=district, year=year, month=month),
            ).payments.append(payment)
    if resident_id is not None:
        return [s for rid, s in collected.items() if rid == resident_id]
    # Each resident with a co-payment (or a payment or refund on the month) gets a statement.
    return sorted(
        (s for s in collected.values() if s.due != 0 or s.payments), key=lambda s: (s.resident.name, s.resident.id)
    )


async def for_month(session: AsyncSession, *, access: Access, year: int, month: int) -> list[Statement]:
    """Return the month's statements of the operator's district (every district for an all-district admin)."""
    query = select(District).order_by(col(District.id))
    if access.district_id is not None:
        query = query.where(col(District.id) == access.district_id)
    result: list[Statement] = []
    for district in (await session.execute(query)).scalars():
        result.extend(await _district_month(session, district=district, year=year, month=month))
    await access.log(
        session,
        action="statement_list",
        resident_ids=sorted(s.resident.id for s in result if s.resident.id) or None,
        detail=months.label(year, month),
    )
    return result


async def _visible_resident(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None or resident.purged_at is not None:
        raise NotFound()
    if not access.sees(resident.district_id):
        raise OutOfDistrict(what="statement", thing_id=resident_id, resident_id=resident_id)
    return resident


async def get(session: AsyncSession, *, access: Access, resident_id: int, year: int, month: int) -> Statement:
    """Return the resident's statement of a month (empty when nothing was billed); the view is logged."""
    resident = await _visible_resident(session, resident_id=resident_id, access=access)
    district = await session.get(District, resident.district_id)
    assert district is not None
    found = await _district_month(session, district=district, year=year, month=month, resident_id=resident_id)
    statement = found[0] if found else Statement(resident=resident, district=district, year=year, month=month)
    await access.log(session, action="statement_view", resident_id=resident_id, detail=months.label(year, month))
    return statement


async def record(
    session: AsyncSession,
    *,
    access: Access,
    resident_id: int,
    year: int,
    month: int,
    kind: str,
    day: date,
    amount: int,
    method: str,
    reason: str | None = None,
) -> CopayPayment:
    """Record a payment (납부) or a refund (환급, with its reason) on the resident's statement of a month."""
    access.check_writer()
    resident = await _visible_resident(session, resident_id=resident_id, access=access)
    if kind not in KINDS or method not in METHODS:
        raise InvalidInput(N_("That answer could not be understood."))
    if not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(N_("Please give an amount in won, more than 0."))
    if day > clock.local_now().date():
        raise InvalidInput(N_("The date cannot be in the future."))
    text = (reason or "").strip()[:500] or None
    if kind == "refund":
        if text is None:
            raise InvalidInput(N_("Please write why the money is given back."))
        statement = await get(session, access=access, resident_id=resident_id, year=year, month=month)
        if amount > -statement.balance:
            raise RuleViolation(
                N_("A refund can give back only what was paid over the amount due: {amount} won."),
                amount=f"{max(-statement.balance, 0):,}",
            )
    operator = await session.get(Operator, access.operator_id) if access.operator_id else None
    row = CopayPayment(
        district_id=resident.district_id,
        resident_id=resident_id,
        year=year,
        month=month,
        kind=kind,
        day=day,
        amount=amount,
        method=method,
        reason=text,
        recorded_by=access.operator_id,
        recorded_by_name=(operator.display_name or operator.username) if operator else access.username,
    )
    session.add(row)
    await session.flush()
    await access.log(
        session,
        action=f"copay_{kind}",
        resident_id=resident_id,
        detail=f"{months.label(year, month)} · {day} · {amount} · {method}",
    )
    return row
