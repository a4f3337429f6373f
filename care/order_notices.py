"""Notices about orders to care managers and provider staff, through the outbox.

care/orders.py calls `order_moved` after every history row and `assigned` after every
(re)assignment, in the same transaction, so a notice exists exactly when its change does:
- a provider's bound staff accounts are told of each new assignment (buttons 수락 / 거절,
  data "as:<assignment id>:accept|decline"), and when an assignment is taken back;
- the care manager of a referral is told when its order is assigned, returned to the desk,
  completed or cancelled.
Before 수락 a provider sees only the resident's given name and dong; the address and phone
come with `assignment_card(..., reveal=True)` after 수락.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from care import invites, labels, parsing
from care.actors import Actor
from care.catalog import BY_CODE
from dolbom import clock
from dolbom.i18n import N_, gettext
from storage import orders as store
from storage import outbox
from storage.models import Assignment, CareManager, ChannelBinding, Dong, Order, Provider, Referral, Resident

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


async def order_moved(session: AsyncSession, *, order: Order, action: str, actor: Actor, reason: str | None) -> None:
    """Send the notices one step of an order causes (called right after its history row)."""
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
