"""Phone intake at the desk: the consent script read aloud, and the check for a repeat request.

The console's intake form (console/routes/intake.py) shows `consent_script` for the operator to
read to the caller, and asks `find_recent_repeat` before receiving: the same caller (phone) asking
for the same service within 14 days is shown with a link to that order; the operator may go on.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import intake, parsing
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput
from dolbom.i18n import N_, gettext
from storage.models import Order, Resident

REPEAT_DAYS = 14
_SCRIPT = (
    N_("I will tell you how we use your personal information for this request."),
    N_("We collect your name, phone number, dong and address, birth year, income group, and what you ask for."),
    N_("We use them to receive this request, to link it to a provider and to call you about it."),
    N_("We keep them for {retention}; then they are deleted."),
    N_("You may refuse. Then we cannot receive the request, and nothing is kept."),
    N_("Do you agree?"),
)
_SENSITIVE = (
    N_("If you agree, we also note whether there is a disability and whether daily life alone is hard."),
    N_(
        "This is only to check whether public care support (돌봄SOS) can pay. You may refuse; we still take it."
    ),
    N_("Do you agree to that as well?"),
)


def consent_script(locale: str | None = None) -> tuple[list[str], list[str]]:
    """Return the sentences the operator reads aloud: the general consent, then the sensitive one."""
    retention = intake.retention_text(locale)
    return (
        [gettext(line, locale, retention=retention) for line in _SCRIPT],
        [gettext(line, locale) for line in _SENSITIVE],
    )


async def find_recent_repeat(
    session: AsyncSession, *, access: Access, district_id: int, phone: str, service_code: str
) -> Order | None:
    """Return the newest order of this service in the last 14 days for a person with this phone, or None.

    Within the operator's district only; a hit is logged (the warning names that order).
    """
    if not access.sees(district_id):
        return None  # the intake itself refuses another district
    try:
        e164 = parsing.parse_phone(phone)
    except InvalidInput:
        return None  # the form's own check answers a bad number
    people = select(col(Resident.id)).where(col(Resident.district_id) == district_id, col(Resident.phone) == e164)
    found = (
        await session.execute(
            select(Order)
            .where(
                col(Order.district_id) == district_id,
                col(Order.resident_id).in_(people),
                col(Order.service_code) == service_code,
                col(Order.created_at) >= clock.now() - timedelta(days=REPEAT_DAYS),
            )
            .order_by(col(Order.created_at).desc(), col(Order.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if found is not None:
        await access.log(session, action="order_search", resident_id=found.resident_id, detail=found.receipt_no)
    return found
