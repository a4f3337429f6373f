"""전화 안내: what the desk tells by phone to residents who have no messenger.

care.order_notices adds a row for every change of an order it would have sent to the resident's
messenger when nobody on the resident's side has one (same words, same moment, same transaction).
The desk sees the open rows of its district with whom to call and what to say, and ticks each off.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import order_notices, parsing
from care.auth import Access
from dolbom import clock
from dolbom.errors import NotFound
from dolbom.i18n import gettext
from storage.models import Order, PhoneCall, Resident


@dataclass(frozen=True)
class CallRow:
    """One call to make (or made): the row, whom to call, their number, and the order's receipt."""

    call: PhoneCall
    name: str
    phone: str
    receipt_no: str | None

    @property
    def event(self) -> str:
        msgid = order_notices.EVENT_LABELS.get(self.call.kind)
        return gettext(msgid) if msgid else self.call.kind


def _phone(value: str | None) -> str:
    if not value:
        return ""
    try:
        return parsing.format_phone(value)
    except Exception:  # an odd stored number is shown as stored
        return value


async def list_for_desk(
    session: AsyncSession, *, access: Access, done: bool = False, limit: int = 200
) -> list[CallRow]:
    """Return the calls to make (done=True: the ones made) of the operator's district, oldest first; logged."""
    query = (
        select(PhoneCall, Resident, Order)
        .join(Resident, col(Resident.id) == col(PhoneCall.resident_id))
        .outerjoin(Order, col(Order.id) == col(PhoneCall.order_id))
        .where(col(PhoneCall.done_at).is_not(None) if done else col(PhoneCall.done_at).is_(None))
    )
    if access.district_id is not None:
        query = query.where(col(PhoneCall.district_id) == access.district_id)
    if done:
        query = query.order_by(col(PhoneCall.done_at).desc(), col(PhoneCall.id).desc())
    else:
        query = query.order_by(col(PhoneCall.created_at), col(PhoneCall.id))
    rows = [
        CallRow(
            call=call, name=resident.name, phone=_phone(resident.phone), receipt_no=order.receipt_no if order else None
        )
        for call, resident, order in (await session.execute(query.limit(limit))).all()
    ]
    await access.log(
        session,
        action="phone_call_list",
        resident_ids=sorted({r.call.resident_id for r in rows}),
        detail=f"{len(rows)} calls",
    )
    return rows


async def mark_done(session: AsyncSession, *, call_id: int, access: Access) -> bool:
    """Tick off a call of the operator's district (writers); return False when it was ticked off already."""
    access.check_writer()
    call = await session.get(PhoneCall, call_id)
    if call is None or not access.sees(call.district_id):
        raise NotFound()
    result = await session.execute(
        update(PhoneCall)
        .where(col(PhoneCall.id) == call_id, col(PhoneCall.done_at).is_(None))
        .values(done_at=clock.now(), done_by=access.operator_id)
        .execution_options(synchronize_session=False)
    )
    await access.log(session, action="phone_call_done", resident_id=call.resident_id, detail=call.kind)
    return bool(result.rowcount)  # type: ignore[attr-defined]
