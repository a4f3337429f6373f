"""Notices about orders to care managers and provider staff, through the outbox.

care/orders.py calls `order_moved` after every history row and `assigned` after every
(re)assignment, in the same transaction, so a notice exists exactly when its change does:
- a provider's bound staff accounts are told of each new assignment (buttons 수락 / 거절,
  data "as:<assignment id>:accept|decline"), and when an assignment is taken back;
- the care manager of a referral is told when its order is assigned, returned to the desk,
  completed or cancelled;
- the resident is told every change they would want to know, once per change (see
  "what the resident hears" below): on their verified messenger account and on the chat that
  asked (a family member), or, with neither, on the desk's 전화 안내 list (care.phone_calls).
Before 수락 a provider sees only the resident's given name and dong; the address and phone
come with `assignment_card(..., reveal=True)` after 수락.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import invites, labels, parsing
from care.actors import Actor
from care.catalog import BY_CODE
from dolbom import clock
from dolbom.i18n import N_, gettext
from storage import orders as store
from storage import outbox
from storage.models import (
    Assignment,
    CareManager,
    ChannelBinding,
    District,
    Dong,
    Order,
    PhoneCall,
    Provider,
    Referral,
    Resident,
    ResidentChannel,
)

LOCALE: Final = "ko"  # bound accounts carry no language; notices go out in Korean
ACCEPT: Final = "accept"
DECLINE: Final = "decline"
TWO_SYLLABLE_SURNAMES: Final = frozenset({"남궁", "제갈", "선우", "황보", "독고", "사공", "서문", "동방"})


def _(msgid: str, **params: Any) -> str:
    return gettext(msgid, LOCALE, **params)


def given_name(name: str) -> str:
    """Return a Korean name without its family name: 박순자 → 순자, 남궁민수 → 민수."""
    name = (name or "").strip()
    if " " in name:
        return name.split()[-1]
    if len(name) >= 4 and name[:2] in TWO_SYLLABLE_SURNAMES:
        return name[2:]
    return name[1:] if len(name) >= 2 else name


def units_text(service_code: str, units: int) -> str:
    """Return units with the service's unit word: 20식, 2시간, 3회 (1회 3시간)."""
    default = BY_CODE.get(service_code)
    label = default.unit_label if default else ""
    if label.startswith("1") and len(label) > 1:
        return f"{units}{label[1:]}"
    if label:
        return _(N_("{units} times ({label} each)"), units=units, label=label)
    return str(units)


def service_text(service_code: str) -> str:
    """Return the service's name as people know it."""
    return labels.label(labels.SERVICE, service_code, LOCALE)


def date_text(value: date | None) -> str:
    """Return a date as '12월 1일 (화)', or '' when none."""
    return parsing.format_date(value) if value else ""


def moment_text(value: datetime) -> str:
    """Return a moment in local time as '11월 22일 18:00'."""
    local = value.astimezone(clock.zone())
    return f"{local.month}월 {local.day}일 {local:%H:%M}"


def order_line(order: Order) -> str:
    """Return e.g. '식사지원 20식 · 12월 1일 (화)'."""
    parts = [f"{service_text(order.service_code)} {units_text(order.service_code, order.units)}"]
    if order.requested_date:
        parts.append(date_text(order.requested_date))
    return " · ".join(parts)


def _phone(resident: Resident) -> str:
    if not resident.phone:
        return "-"
    try:
        return parsing.format_phone(resident.phone)
    except Exception:  # an odd stored number is still shown as stored
        return resident.phone


async def assignment_card(
    session: AsyncSession, *, assignment: Assignment, order: Order | None = None, reveal: bool = False
) -> str:
    """Return what a provider sees of an assignment; full name, address and phone only with reveal."""
    order = order or await store.get(session, assignment.order_id)
    assert order is not None
    resident = await session.get(Resident, order.resident_id)
    dong = await session.get(Dong, resident.dong_id) if resident and resident.dong_id else None
    head = order_line(order)
    if order.urgency == "urgent":
        head = f"[{_(labels.URGENCY['urgent'])}] {head}"
    lines = [head]
    who = _(N_("{name} (given name)"), name=given_name(resident.name if resident else ""))
    lines.append(_(N_("Resident: {name}, {dong}"), name=who, dong=dong.name if dong else "-"))
    if assignment.note:
        lines.append(_(N_("Note from the desk: {note}"), note=assignment.note))
    if reveal and resident is not None:
        lines.append(_(N_("Name: {name}"), name=resident.name))
        lines.append(_(N_("Address: {address}"), address=resident.address or "-"))
        lines.append(_(N_("Phone: {phone}"), phone=_phone(resident)))
    if assignment.status == "pending":
        lines.append(_(N_("Please answer by {deadline}."), deadline=moment_text(assignment.deadline)))
    return "\n".join(lines)


def assignment_buttons(assignment_id: int) -> list[list[dict[str, str]]]:
    """Return the 수락 / 거절 buttons of an assignment notice, in the outbox's JSON shape."""
    return [
        [
            {"text": _(N_("Accept")), "data": f"as:{assignment_id}:{ACCEPT}"},
            {"text": _(N_("Decline")), "data": f"as:{assignment_id}:{DECLINE}"},
        ]
    ]


async def provider_targets(session: AsyncSession, *, provider_id: int) -> list[tuple[str, str]]:
    """Return the (channel, chat id) of every bot contact of a provider: its staff and its contact account."""
    return await _provider_targets(session, provider_id)


async def _provider_targets(session: AsyncSession, provider_id: int) -> list[tuple[str, str]]:
    targets = [(b.channel, b.user_key) for b in await invites.list_provider_accounts(session, provider_id=provider_id)]
    provider = await session.get(Provider, provider_id)
    if provider is not None and provider.contact_channel and provider.contact_user_key:
        contact = (provider.contact_channel, provider.contact_user_key)
        if contact not in targets:
            targets.append(contact)
    return targets


async def _care_manager_targets(session: AsyncSession, order: Order) -> list[ChannelBinding]:
    if order.referral_id is None:
        return []
    referral = await session.get(Referral, order.referral_id)
    if referral is None:
        return []
    manager = await session.get(CareManager, referral.care_manager_id)
    if manager is None or not manager.active:
        return []
    return await invites.list_care_manager_accounts(session, care_manager_id=referral.care_manager_id)


async def _tell_care_manager(session: AsyncSession, order: Order, text: str) -> None:
    targets = await _care_manager_targets(session, order)
    if not targets:
        return
    resident = await session.get(Resident, order.resident_id)
    head = _(
        N_("[Referral] {name}: {order} (receipt {receipt_no})"),
        name=resident.name if resident else "",
        order=order_line(order),
        receipt_no=order.receipt_no,
    )
    for binding in targets:
        await outbox.enqueue(
            session,
            district_id=order.district_id,
            channel=binding.channel,
            chat_id=binding.user_key,
            text=f"{head}\n{text}",
            kind="referral_notice",
            ref=f"order:{order.id}",
            resident_id=order.resident_id,
        )


async def _tell_provider(
    session: AsyncSession,
    provider_id: int,
    text: str,
    *,
    district_id: int,
    ref: str,
    resident_id: int,
    buttons: list[Any] | None = None,
) -> None:
    for channel, chat_id in await _provider_targets(session, provider_id):
        await outbox.enqueue(
            session,
            district_id=district_id,
            channel=channel,
            chat_id=chat_id,
            text=text,
            buttons=buttons,
            kind="assignment_notice",
            ref=ref,
            resident_id=resident_id,
        )


async def assigned(
    session: AsyncSession, *, order: Order, assignment: Assignment, withdrawn: Assignment | None = None
) -> None:
    """Tell the provider of a new assignment (수락/거절), the previous provider that it was taken back, the manager."""
    assert assignment.id is not None
    card = await assignment_card(session, assignment=assignment, order=order)
    await _tell_provider(
        session,
        assignment.provider_id,
        _(N_("New assignment. Please accept or decline.")) + "\n" + card,
        district_id=order.district_id,
        ref=f"assignment:{assignment.id}",
        resident_id=order.resident_id,
        buttons=assignment_buttons(assignment.id),
    )
    if withdrawn is not None and withdrawn.provider_id != assignment.provider_id:
        await _tell_provider(
            session,
            withdrawn.provider_id,
            _(N_("The desk has given this order to another provider. You do not need to do it."))
            + "\n"
            + order_line(order),
            district_id=order.district_id,
            ref=f"assignment:{withdrawn.id}",
            resident_id=order.resident_id,
        )
    provider = await session.get(Provider, assignment.provider_id)
    await _tell_care_manager(
        session, order, _(N_("Assigned to {provider}."), provider=provider.name if provider else "-")
    )
    await _resident_assigned(session, order=order, assignment=assignment, changed=withdrawn is not None)


async def order_moved(session: AsyncSession, *, order: Order, action: str, actor: Actor, reason: str | None) -> None:
    """Send the notices one step of an order causes (called right after its history row)."""
    await _resident_moved(session, order=order, action=action, actor=actor, reason=reason)
    if action == "return":
        current = await store.current_assignment(session, order.id)  # type: ignore[arg-type]
        if current is not None and actor.kind != "provider":
            await _tell_provider(
                session,
                current.provider_id,
                _(N_("The time to accept has passed, so the order went back to the desk.")) + "\n" + order_line(order),
                district_id=order.district_id,
                ref=f"assignment:{current.id}",
                resident_id=order.resident_id,
            )
        await _tell_care_manager(
            session,
            order,
            _(
                N_("The provider could not take it. The desk is finding another provider. Reason: {reason}"),
                reason=reason or "-",
            ),
        )
    elif action == "complete":
        delivered = order.delivered_units if order.delivered_units is not None else order.units
        await _tell_care_manager(
            session, order, _(N_("Completed: {units} delivered."), units=units_text(order.service_code, delivered))
        )
    elif action == "cancel":
        current = await store.current_assignment(session, order.id)  # type: ignore[arg-type]
        if current is not None and actor.kind != "provider":
            await _tell_provider(
                session,
                current.provider_id,
                _(N_("This order was cancelled. You do not need to do it.")) + "\n" + order_line(order),
                district_id=order.district_id,
                ref=f"assignment:{current.id}",
                resident_id=order.resident_id,
            )
        await _tell_care_manager(session, order, _(N_("Cancelled. Reason: {reason}"), reason=reason or "-"))


# ---------------------------------------------------------------- what the resident hears
#
# One message per change, about the one thing that changed, without blaming anyone:
#   assign            → ASSIGNED ("OO협동조합이 12월 3일 (목)에 도와 드릴 예정이에요")
#   reassign          → REASSIGNED only (the desk moved it from A to B: one change, one message;
#                       never "다른 기관을 찾고 있어요" followed by "B가 도와 드려요")
#   return            → RETURNED ("다른 기관을 찾고 있어요"), then a later assign → ASSIGNED
#   accept            → ACCEPTED;  date_changed → DATE_CHANGED
#   complete, desk_complete → DONE;  refer → REFERRED (where to, and the desk's phone)
#   cancel → CANCELLED (not when the person cancelled it in the chat
#                       themselves: the chat answered them);  reject → REJECTED
#   screen, start     → nothing (nothing the resident waits for changed)

ASSIGNED: Final = "assigned"
REASSIGNED: Final = "reassigned"
RETURNED: Final = "returned"
ACCEPTED: Final = "accepted"
DATE_CHANGED: Final = "date_changed"
DONE: Final = "done"
REFERRED: Final = "referred"
CANCELLED: Final = "cancelled"
REJECTED: Final = "rejected"
# Korean names of the events, for the 전화 안내 list.
EVENT_LABELS: Final = {
    ASSIGNED: N_("Provider found"),
    REASSIGNED: N_("Provider changed"),
    RETURNED: N_("Finding another provider"),
    ACCEPTED: N_("Provider confirmed"),
    DATE_CHANGED: N_("Date changed"),
    DONE: N_("Done"),
    REFERRED: N_("Referred"),
    CANCELLED: N_("Cancelled"),
    REJECTED: N_("Could not be taken"),
}


def subject(name: str) -> str:
    """Return a name with its subject particle, as Korean needs it: 햇살협동조합이, 나눔센터가."""
    name = (name or "").strip()
    last = name[-1:] if name else ""
    if "가" <= last <= "힣":
        return name + ("이" if (ord(last) - ord("가")) % 28 else "가")
    return f"{name}이(가)" if name else name


def desk_phone_line(district: District | None) -> str:
    """Return where to call with a question: the desk's number when the district has one."""
    if district is not None and district.phone:
        return _(N_("If you have a question, please call the desk at {phone}."), phone=district.phone)
    return _(N_("If you have a question, please call the desk."))


def _head(order: Order) -> str:
    return _(
        N_("About your request for {service} (receipt {receipt_no})"),
        service=service_text(order.service_code),
        receipt_no=order.receipt_no,
    )


async def resident_targets(session: AsyncSession, order: Order) -> list[tuple[str, str]]:
    """Return where the resident's notices go: the chat that asked, and the resident's own verified account."""
    targets: list[tuple[str, str]] = []
    if order.requested_by_channel and order.requested_by_key:
        blocked = (
            await session.execute(
                select(col(ResidentChannel.id)).where(
                    col(ResidentChannel.channel) == order.requested_by_channel,
                    col(ResidentChannel.user_key) == order.requested_by_key,
                    col(ResidentChannel.reachable).is_(False),
                )
            )
        ).first()
        if blocked is None:  # a chat that blocked the bot hears nothing: the desk calls instead
            targets.append((order.requested_by_channel, order.requested_by_key))
    own = (
        await session.execute(
            select(ResidentChannel)
            .where(
                col(ResidentChannel.resident_id) == order.resident_id,
                col(ResidentChannel.reachable).is_(True),
                col(ResidentChannel.verified_at).is_not(None),
                col(ResidentChannel.revoked_at).is_(None),
            )
            .order_by((col(ResidentChannel.channel) == "telegram").desc(), col(ResidentChannel.id))
            .limit(1)
        )
    ).scalar_one_or_none()
    if own is not None and (own.channel, own.user_key) not in targets:
        targets.append((own.channel, own.user_key))
    return targets


async def tell_resident(session: AsyncSession, *, order: Order, event: str, text: str) -> None:
    """Tell the resident's side one change of their order, or put it on the desk's 전화 안내 list."""
    message = f"{_head(order)}\n{text}"
    targets = await resident_targets(session, order)
    for channel, chat_id in targets:
        await outbox.enqueue(
            session,
            district_id=order.district_id,
            channel=channel,
            chat_id=chat_id,
            text=message,
            kind="order_notice",
            ref=f"order:{order.id}:{event}",
            resident_id=order.resident_id,
        )
    if not targets:
        session.add(
            PhoneCall(
                district_id=order.district_id,
                resident_id=order.resident_id,
                order_id=order.id,
                kind=event,
                text=message,
            )
        )
        await session.flush()


async def _provider_name(session: AsyncSession, provider_id: int) -> str:
    provider = await session.get(Provider, provider_id)
    return provider.name if provider is not None else ""


def _when(order: Order, provider: str) -> str:
    if order.requested_date:
        return _(
            N_("{provider} will help you on {date}."), provider=subject(provider), date=date_text(order.requested_date)
        )
    return _(N_("{provider} will help you. They will tell you the day."), provider=subject(provider))


async def _resident_assigned(session: AsyncSession, *, order: Order, assignment: Assignment, changed: bool) -> None:
    provider = await _provider_name(session, assignment.provider_id)
    if changed:
        text = _(N_("The provider who will help you has changed.")) + " " + _when(order, provider)
        await tell_resident(session, order=order, event=REASSIGNED, text=text)
    else:
        await tell_resident(session, order=order, event=ASSIGNED, text=_when(order, provider))


async def _resident_moved(
    session: AsyncSession, *, order: Order, action: str, actor: Actor, reason: str | None
) -> None:
    if action == "return":
        text = _(N_("We are finding another provider to help you. We will tell you as soon as we find one."))
        await tell_resident(session, order=order, event=RETURNED, text=text)
    elif action == "accept":
        current = await store.current_assignment(session, order.id)  # type: ignore[arg-type]
        provider = await _provider_name(session, current.provider_id) if current is not None else ""
        if order.requested_date:
            text = _(
                N_("{provider} has confirmed. They will help you on {date}."),
                provider=subject(provider),
                date=date_text(order.requested_date),
            )
        else:
            text = _(N_("{provider} has confirmed. They will contact you about the day."), provider=subject(provider))
        await tell_resident(session, order=order, event=ACCEPTED, text=text)
    elif action in ("complete", "desk_complete"):
        text = _(N_("The help is done. Thank you for using the service."))
        await tell_resident(session, order=order, event=DONE, text=text)
    elif action == "refer":
        place = str(((order.details or {}).get("desk") or {}).get("referred_to") or "")
        district = await session.get(District, order.district_id)
        first = (
            _(N_("We passed your request on to {place}. They will contact you."), place=place)
            if place
            else _(N_("We passed your request on to the place that can help. They will contact you."))
        )
        text = "\n".join(part for part in (first, desk_phone_line(district)) if part)
        await tell_resident(session, order=order, event=REFERRED, text=text)
    elif action in ("cancel", "reject"):
        if action == "cancel" and actor.kind == "resident":
            return  # they cancelled it in the chat, and the chat told them so
        district = await session.get(District, order.district_id)
        why = _(N_("Reason: {reason}"), reason=reason.strip()) if reason and reason.strip() else ""
        first = (
            _(N_("Your request has been cancelled."))
            if action == "cancel"
            else _(N_("We are sorry. We cannot take this request."))
        )
        text = "\n".join(part for part in (first, why, desk_phone_line(district)) if part)
        await tell_resident(session, order=order, event=CANCELLED if action == "cancel" else REJECTED, text=text)


async def date_changed(session: AsyncSession, *, order: Order, previous: date | None) -> None:
    """Tell the resident's side that the day of the help changed (called with the change, in its transaction)."""
    if order.requested_date == previous:
        return
    if order.requested_date is None:
        text = _(N_("The day of the help has changed. We will tell you the new day."))
    else:
        text = _(N_("The day of the help has changed to {date}."), date=date_text(order.requested_date))
    await tell_resident(session, order=order, event=DATE_CHANGED, text=text)
    when = date_text(order.requested_date) or "-"
    await _tell_care_manager(session, order, _(N_("The day changed to {date}."), date=when))
    current = await store.current_assignment(session, order.id)  # type: ignore[arg-type]
    if current is not None:
        await _tell_provider(
            session,
            current.provider_id,
            _(N_("The desk changed the day of this order to {date}."), date=when) + "\n" + order_line(order),
            district_id=order.district_id,
            ref=f"assignment:{current.id}",
            resident_id=order.resident_id,
        )
