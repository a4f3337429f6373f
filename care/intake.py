"""Intake: a finished request becomes a resident, consents, an order and a receipt, in one transaction.

The bot (Telegram, web chat) and the console's phone-intake form call `submit` the same way;
the console passes channel="phone" and the operator who took the consent over the phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import districts, eligibility, entitlements, identity, inbox, labels, orders, parsing
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_, gettext
from dolbom.settings import get_settings
from storage import outbox
from storage.models import Consent as ConsentRow
from storage.models import DeskThread, District, Dong, Order, ResidentChannel

# The version of the consent texts the bot shows; bump it whenever their wording changes.
CONSENT_TEXT_VERSION: Final = "2026-11-v1"
CONSENT_ITEMS: Final = ("name", "phone", "dong", "address", "birth_year", "income_tier", "request")
SENSITIVE_ITEMS: Final = ("disability", "daily_living")
CONSENT_PURPOSE: Final = N_("Receiving a care request, linking it to a provider, and contacting the person about it")
SENSITIVE_PURPOSE: Final = N_("Checking whether the person can get public care support (돌봄SOS)")
# Channels the receipt can be sent to on their own (the outbox sender knows them).
MESSENGER_CHANNELS: Final = ("telegram", "webchat")
HOME_BUTTON: Final = "g:home"
# The longest message a person may send; longer ones are refused kindly.
MAX_TEXT: Final = 1000


@dataclass(frozen=True)
class IntakeRequest:
    """Everything a finished request holds; free text is checked again here."""

    district_id: int
    service_code: str
    name: str
    phone: str
    units: int = 1
    for_self: bool = True
    dong_id: int | None = None
    address: str | None = None
    birth_year: int | None = None
    disabled: bool | None = None
    cannot_manage_alone: bool | None = None
    no_public_service: bool | None = None
    no_family_care: bool | None = None
    income_tier: str = "unknown"
    requested_date: date | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None
    urgency: str = "normal"
    # Consent to the general items must be True; health/disability details need their own.
    consent: bool = False
    sensitive_consent: bool = False
    # Who asked, when it is not the person themself (가족·이웃 대신).
    requester_name: str | None = None
    requester_phone: str | None = None
    requester_relation: str | None = None
    # The phone was the person's own shared contact (care.identity.contact_is_own), not typed.
    phone_verified: bool = False
    # A phone request made by a 보건소 for the person (source health_center, counted apart in 통계).
    from_health_center: bool = False


def retention_text(locale: str | None = None) -> str:
    """Return how long request data is kept, in words (e.g. '5년')."""
    years = max(1, get_settings().retention_days // 365)
    return gettext(N_("{years} years after the service ends"), locale, years=years)


async def find_district_id(session: AsyncSession, *, preferred: int | None = None) -> int | None:
    """Return the preferred district (a desk operator's own) or the first active one (else the first), or None."""
    if preferred is not None and await session.get(District, preferred) is not None:
        return preferred
    district_id = (
        await session.execute(select(col(District.id)).order_by(col(District.active).desc(), col(District.id)).limit(1))
    ).scalar_one_or_none()
    return int(district_id) if district_id is not None else None


async def default_district_id(session: AsyncSession) -> int:
    """Return the district the bot serves (the first one); raise NotFound when there is none."""
    district_id = await find_district_id(session)
    if district_id is None:
        raise NotFound(N_("The desk has not set up its area yet. Please call the desk."))
    return district_id


async def list_dongs(session: AsyncSession, *, district_id: int) -> list[Dong]:
    """Return the dongs a new request may name (active, in an active region), in name order."""
    from care import directory

    return await directory.list_active_dongs(session, district_id=district_id)


def _check_text(*values: str | None) -> None:
    for value in values:
        if value:
            parsing.refuse_registration_number(value)


def _check_details(details: dict[str, Any]) -> None:
    for value in details.values():
        if isinstance(value, str):
            parsing.refuse_registration_number(value)


async def estimate(session: AsyncSession, *, request: IntakeRequest) -> entitlements.Estimate:
    """Return the expected public and resident amounts of a request from the person's own answers.

    Health and disability answers count only with their consent, as the stored request keeps them.
    """
    sensitive = request.sensitive_consent
    screen = eligibility.prescreen(
        birth_year=request.birth_year,
        disabled=request.disabled if sensitive else None,
        cannot_manage_alone=request.cannot_manage_alone if sensitive else None,
        no_public_service=request.no_public_service,
        no_family_care=request.no_family_care,
        this_year=clock.today().year,
    )
    year = request.requested_date.year if request.requested_date is not None else clock.today().year
    return await entitlements.estimate(
        session,
        district_id=request.district_id,
        service_code=request.service_code,
        units=request.units,
        year=year,
        income_tier=request.income_tier,
        looks_eligible=screen.eligible,
    )


def receipt_cost_text(e: entitlements.Estimate, locale: str | None = None) -> str:
    """Return the receipt's expected amounts, saying the desk still decides the final amount."""
    text = entitlements.estimate_text(e, locale)
    if e.certain and e.total:
        text += " " + gettext(N_("The desk confirms the final amount when it calls you."), locale)
    return text


def receipt_text(order: Order, *, locale: str | None = None, desk: districts.Desk | None = None, cost: str = "") -> str:
    """Return the receipt message: the number, the expected amounts, what happens next and the desk's phone."""
    service = labels.label(labels.SERVICE, order.service_code, locale)
    line = districts.desk_line(desk, locale) if desk is not None else ""
    text = gettext(
        N_(
            "Your request is received.\n"
            "Receipt number: {receipt_no}\n"
            "Service: {service}\n\n"
            "What happens next: the desk will call you within one working day to check the details. "
            "Then we find a provider near you and tell you here.\n"
            "To ask about it, press 'My requests' or call the desk and give this receipt number."
        ),
        locale,
        receipt_no=order.receipt_no,
        service=service,
    )
    if cost:
        head, _, rest = text.partition("\n\n")
        text = f"{head}\n{cost}\n\n{rest}"
    return f"{text}\n{line}" if line else text


async def submit(
    session: AsyncSession,
    *,
    request: IntakeRequest,
    channel: str,
    user_key: str | None,
    actor: Actor,
    operator_id: int | None = None,
    access: Access | None = None,
    language: str = "ko",
) -> Order:
    """Store a finished request in the caller's transaction and return the new order.

    The record it is for comes from care.identity.resolve: an existing resident is never written
    over (what the request brings is kept on the order as proposals), and the asking account is
    bound to it as verified only by its own shared contact. Records the consents, creates the
    order and enqueues the receipt to the account that asked. Raises InvalidInput without consent.
    """
    if not request.consent:
        raise InvalidInput(N_("A request can only be stored with consent."))
    _check_text(request.name, request.address, request.notes, request.requester_name)
    _check_details(request.details)
    if request.dong_id is not None:
        dong = await session.get(Dong, request.dong_id)
        if dong is None or dong.district_id != request.district_id or not dong.active:
            raise InvalidInput()
    values: dict[str, Any] = {
        "address": request.address,
        "dong_id": request.dong_id,
        "birth_year": request.birth_year,
        "no_public_service": request.no_public_service,
        "no_family_care": request.no_family_care,
        "income_tier": request.income_tier,
    }
    if request.sensitive_consent:
        values["disabled"] = request.disabled
        values["cannot_manage_alone"] = request.cannot_manage_alone
    resolved = await identity.resolve(
        session,
        district_id=request.district_id,
        name=request.name,
        phone=request.phone,
        values=values,
        channel=channel,
        user_key=user_key,
        for_self=request.for_self,
        phone_verified=request.phone_verified and request.for_self,
    )
    resident = resolved.resident
    assert resident.id is not None
    if resolved.created:
        resident.last_active_at = resident.updated_at = clock.now()
        session.add(resident)

    # A desk operator typing in the web chat takes the request for someone: their chat account is
    # the desk's, never the resident's or a family member's.
    if access is not None:
        operator_id = access.operator_id
    desk_chat = operator_id is not None and channel in MESSENGER_CHANNELS
    if user_key and channel in MESSENGER_CHANNELS and not desk_chat:
        if request.for_self:
            await identity.bind(
                session,
                resident_id=resident.id,
                channel=channel,
                user_key=user_key,
                language=language,
                verified=resolved.verified,
            )
        else:
            await identity.record_family(
                session,
                resident_id=resident.id,
                channel=channel,
                user_key=user_key,
                name=request.requester_name,
                relation=request.requester_relation,
                phone=request.requester_phone,
                consent_version=CONSENT_TEXT_VERSION,
            )

    session.add(
        ConsentRow(
            resident_id=resident.id,
            items=list(CONSENT_ITEMS),
            purpose=CONSENT_PURPOSE,
            retention=retention_text("ko"),
            text_version=CONSENT_TEXT_VERSION,
            sensitive=False,
            channel=channel,
            operator_id=operator_id,
        )
    )
    if request.sensitive_consent:
        session.add(
            ConsentRow(
                resident_id=resident.id,
                items=list(SENSITIVE_ITEMS),
                purpose=SENSITIVE_PURPOSE,
                retention=retention_text("ko"),
                text_version=CONSENT_TEXT_VERSION,
                sensitive=True,
                channel=channel,
                operator_id=operator_id,
            )
        )

    if channel == "phone":
        source = "health_center" if request.from_health_center else "desk_phone"
    elif desk_chat:
        source = "desk_chat"
    else:
        source = "resident" if request.for_self else "family"
    order = await orders.create(
        session,
        resident_id=resident.id,
        service_code=request.service_code,
        units=request.units,
        actor=actor,
        source=source,
        requested_date=request.requested_date,
        urgency=request.urgency,
        details=dict(request.details),
        notes=request.notes,
        requested_by_channel=channel,
        requested_by_key=user_key,
    )
    if resolved.proposed:
        order.proposed = resolved.proposed
        session.add(order)
    if user_key and channel in MESSENGER_CHANNELS:
        await outbox.enqueue(
            session,
            district_id=order.district_id,
            channel=channel,
            chat_id=user_key,
            text=receipt_text(
                order,
                locale=language,
                desk=await districts.desk_phone(session, district_id=order.district_id),
                cost=receipt_cost_text(await estimate(session, request=request), language),
            ),
            buttons=[[{"text": gettext(N_("Back to the start"), language), "data": HOME_BUTTON}]],
            kind="receipt",
            ref=f"order:{order.id}",
            resident_id=order.resident_id,
        )
    if access is not None:
        # The desk took it (phone form, web chat): who, from where, for whom.
        await access.log(
            session,
            action="chat_request" if desk_chat else "resident_intake",
            resident_id=resident.id,
            detail=order.receipt_no,
        )
    await session.flush()
    return order


async def resident_for(session: AsyncSession, *, channel: str, user_key: str) -> int | None:
    """Return the id of the resident this messenger account is verified for, or None (see care.identity)."""
    return await identity.verified_resident(session, channel=channel, user_key=user_key)


async def post_to_desk(
    session: AsyncSession,
    *,
    channel: str,
    user_key: str,
    text: str,
    reason: str = "talk",
    district_id: int | None = None,
    order_id: int | None = None,
    resident_id: int | None = None,
) -> DeskThread:
    """Add a person's message to their active desk thread (opening one if needed) and return the thread.

    A thread on hold or snoozed reopens (care.inbox). Free text the bot could not place ("unplaced")
    joins whatever conversation the person already has open; a thread about an order is one per order.
    """
    parsing.refuse_registration_number(text)
    thread = await inbox.find_active(
        session, channel=channel, user_key=user_key, reason=None if reason == "unplaced" else reason, order_id=order_id
    )
    now = clock.now()
    if thread is None:
        if order_id is not None and district_id is None:
            order = await session.get(Order, order_id)
            district_id = order.district_id if order is not None else None
        thread = DeskThread(
            channel=channel,
            user_key=user_key,
            reason=reason,
            resident_id=resident_id or await resident_for(session, channel=channel, user_key=user_key),
            district_id=district_id,
            order_id=order_id,
            created_at=now,
            updated_at=now,
        )
        if thread.resident_id is None and order_id is not None:
            order = await session.get(Order, order_id)
            thread.resident_id = order.resident_id if order is not None else None
        session.add(thread)
        await session.flush()
    assert thread.id is not None
    await inbox.record_incoming(session, thread=thread, text=text[:MAX_TEXT], at=now)
    return thread


async def set_reachable(session: AsyncSession, *, channel: str, user_key: str, reachable: bool) -> int:
    """Mark a messenger account reachable or not (the person blocked the bot); return rows changed."""
    rows = list(
        (
            await session.execute(
                select(ResidentChannel).where(
                    col(ResidentChannel.channel) == channel, col(ResidentChannel.user_key) == user_key
                )
            )
        ).scalars()
    )
    for row in rows:
        row.reachable = reachable
        session.add(row)
    await session.flush()
    return len(rows)


async def list_mine(session: AsyncSession, *, channel: str, user_key: str, limit: int = 10) -> list[Order]:
    """Return the orders the account asked for, plus (verified only) its resident's, newest first (care.identity)."""
    return await identity.list_mine(session, channel=channel, user_key=user_key, limit=limit)
