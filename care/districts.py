"""The desk of a district as residents are told about it: its phone number and office hours."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from care import parsing
from dolbom.i18n import N_, gettext
from storage.models import District

CALL_DESK = N_("Please call the desk.")
CALL_DESK_PHONE = N_("Please call the desk: {phone}.")
CALL_DESK_PHONE_HOURS = N_("Please call the desk: {phone} ({hours}).")


@dataclass(frozen=True)
class Desk:
    """A district desk's number as written for people (010-… / 02-…) and its hours, when known."""

    phone: str | None
    hours: str | None


def _shown(phone: str) -> str:
    try:
        return parsing.format_phone(phone)
    except Exception:  # a short desk number (120, 1588-…) is kept as the district wrote it
        return phone


async def desk_phone(session: AsyncSession, *, district_id: int | None) -> Desk:
    """Return the desk's phone and office hours of a district (both None when not set or no district)."""
    district = await session.get(District, district_id) if district_id is not None else None
    if district is None or not district.phone:
        return Desk(phone=None, hours=None)
    return Desk(phone=_shown(district.phone), hours=district.office_hours or None)


def call_desk_text(desk: Desk, locale: str | None = None) -> str:
    """Return "Please call the desk" with the number (and hours) when the district has one."""
    if desk.phone and desk.hours:
        return gettext(CALL_DESK_PHONE_HOURS, locale, phone=desk.phone, hours=desk.hours)
    if desk.phone:
        return gettext(CALL_DESK_PHONE, locale, phone=desk.phone)
    return gettext(CALL_DESK, locale)


async def call_desk(session: AsyncSession, *, district_id: int | None, locale: str | None = None) -> str:
    """Return the "please call the desk" sentence for a district, in the person's language."""
    return call_desk_text(await desk_phone(session, district_id=district_id), locale)


URGENT_PHONE = N_("If it is urgent, please call the desk: {phone}.")
URGENT_PHONE_HOURS = N_("If it is urgent, please call the desk: {phone} ({hours}).")
DESK_LINE = N_("Desk phone: {phone}")
DESK_LINE_HOURS = N_("Desk phone: {phone} ({hours})")


def urgent_text(desk: Desk, locale: str | None = None) -> str:
    """Return "If it is urgent, call the desk: number" — empty when the district has no phone yet."""
    if desk.phone and desk.hours:
        return gettext(URGENT_PHONE_HOURS, locale, phone=desk.phone, hours=desk.hours)
    if desk.phone:
        return gettext(URGENT_PHONE, locale, phone=desk.phone)
    return ""


def desk_line(desk: Desk, locale: str | None = None) -> str:
    """Return "Desk phone: number (hours)" — empty when the district has no phone yet."""
    if desk.phone and desk.hours:
        return gettext(DESK_LINE_HOURS, locale, phone=desk.phone, hours=desk.hours)
    if desk.phone:
        return gettext(DESK_LINE, locale, phone=desk.phone)
    return ""
