"""Who is talking: messenger accounts, the residents they are verified for, and what they may see.

A messenger account (channel, user key) is *who is talking*; an order's resident is *whom the
request is for*. The two are bound only by a verified phone (decision 0009):

- Telegram's shared contact whose user id is the sender's own, with the number of the record, or
- the desk confirming the binding on the resident page (who and when are recorded).

A typed name and phone never bind. A request from an unverified account that names an existing
resident goes to a new record marked "possibly the same person as" that resident; what it brings
is kept on the order as proposed changes. Everything here is the one place the bot, the console
and the jobs ask "may this account see / change / receive this?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import labels, orders, parsing, residents
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_, gettext
from storage.models import (
    CheckinSchedule,
    CheckinSlot,
    Consent,
    DeskThread,
    Dong,
    FamilyContact,
    Order,
    Referral,
    Resident,
    ResidentChannel,
)

VIA_CONTACT: Final = "telegram_contact"
VIA_DESK: Final = "desk"
# Orders a person may still cancel in the chat: not yet given to a provider.
CANCELLABLE: Final = ("received", "screening")
MSG_TOO_LATE: Final = N_(
    "A provider is already arranged, so this request cannot be cancelled here. Please call the desk."
)
# The same without the last sentence: the bot adds the district's own "call the desk: number".
MSG_TOO_LATE_HERE: Final = N_("A provider is already arranged, so this request cannot be cancelled here.")
MSG_NOT_SAME_YET: Final = N_("First decide whether this is the same person; then the changes can be applied.")
# What a request may bring about a resident; for an existing record these become proposals.
PROPOSABLE: Final = (
    "address",
    "dong_id",
    "birth_year",
    "disabled",
    "cannot_manage_alone",
    "no_public_service",
    "no_family_care",
    "income_tier",
)
FIELD_LABELS: Final = {
    "address": N_("Address"),
    "dong_id": N_("Dong"),
    "birth_year": N_("Birth year"),
    "disabled": N_("Has a disability"),
    "cannot_manage_alone": N_("Finds it hard to manage daily life alone"),
    "no_public_service": N_("Uses no public service, or has a gap"),
    "no_family_care": N_("Has no family who can look after them"),
    "income_tier": N_("Income"),
}


def contact_is_own(*, user_key: str, sender_id: str | None, contact_user_id: str | None) -> bool:
    """Return True when a shared contact is the sender's own (Telegram puts the owner's id in it)."""
    return bool(contact_user_id) and contact_user_id == sender_id and sender_id == user_key


def _verified_channel() -> ColumnElement[bool]:
    return col(ResidentChannel.verified_at).is_not(None)


def _verified_family() -> ColumnElement[bool]:
    return col(FamilyContact.verified_at).is_not(None)


# ---------------------------------------------------------------- the account's binding


async def get_binding(session: AsyncSession, *, channel: str, user_key: str) -> ResidentChannel | None:
    """Return the account's binding (verified or a claim), or None."""
    result = await session.execute(
        select(ResidentChannel).where(
            col(ResidentChannel.channel) == channel, col(ResidentChannel.user_key) == user_key
        )
    )
    return result.scalar_one_or_none()


async def verified_resident(session: AsyncSession, *, channel: str, user_key: str) -> int | None:
    """Return the id of the resident this account is verified for, or None."""
    result = await session.execute(
        select(col(ResidentChannel.resident_id)).where(
            col(ResidentChannel.channel) == channel,
            col(ResidentChannel.user_key) == user_key,
            _verified_channel(),
        )
    )
    value = result.scalar_one_or_none()
    return int(value) if value is not None else None


async def bind(
    session: AsyncSession, *, resident_id: int, channel: str, user_key: str, language: str, verified: bool
) -> ResidentChannel:
    """Record that the account speaks for the resident (verified only by its own contact); return the binding.

    A request without verification never moves a verified binding to someone else, and a binding
    the desk revoked is verified again only by the desk.
    """
    row = await get_binding(session, channel=channel, user_key=user_key)
    if row is None:
        row = ResidentChannel(resident_id=resident_id, channel=channel, user_key=user_key, language=language)
    elif row.resident_id != resident_id:
        if row.verified_at is not None and not verified:
            return row
        # revoked_at stays: an account the desk took back is verified again only by the desk.
        row.resident_id = resident_id
        row.verified_at = row.verified_how = row.verified_by = None
    row.language = language
    row.reachable = True
    if verified and row.verified_at is None and row.revoked_at is None:
        row.verified_at = clock.now()
        row.verified_how = VIA_CONTACT
    session.add(row)
    await session.flush()
    return row


async def verify_by_contact(session: AsyncSession, *, channel: str, user_key: str, phone: str) -> int | None:
    """Verify the account's claim with its own shared phone; return the resident it is now verified for, or None.

    The caller has checked `contact_is_own`. The number must be the one on the record the account
    claims (for a "possibly the same" record: the one it names, which has that number too).
    """
    row = await get_binding(session, channel=channel, user_key=user_key)
    if row is None or row.revoked_at is not None:
        return None
    if row.verified_at is not None:
        return row.resident_id
    resident = await session.get(Resident, row.resident_id)
    if resident is None or resident.purged_at is not None or resident.phone != parsing.parse_phone(phone):
        return None
    if resident.same_as_id is not None:
        named = await session.get(Resident, resident.same_as_id)
        if named is None or named.phone != resident.phone or named.name != resident.name:
            return None
        row.resident_id = named.id  # type: ignore[assignment]
    row.verified_at = clock.now()
    row.verified_how = VIA_CONTACT
    session.add(row)
    await session.flush()
    return row.resident_id


async def list_reachable(session: AsyncSession, *, resident_ids: list[int]) -> dict[int, ResidentChannel]:
    """Return each resident's reachable verified account (Telegram first): where check-ins and notices go."""
    chats: dict[int, ResidentChannel] = {}
    for i in range(0, len(resident_ids), 500):
        result = await session.execute(
            select(ResidentChannel)
            .where(
                col(ResidentChannel.resident_id).in_(resident_ids[i : i + 500]),
                col(ResidentChannel.reachable).is_(True),
                _verified_channel(),
            )
            .order_by((col(ResidentChannel.channel) == "telegram").desc(), col(ResidentChannel.id))
        )
        for row in result.scalars():
            chats.setdefault(row.resident_id, row)
    return chats


def family_alert_clause() -> ColumnElement[bool]:
    """Return the condition a family contact meets to be alerted: registered for alerts and confirmed by the desk."""
    return col(FamilyContact.notify).is_(True) & _verified_family()


# ---------------------------------------------------------------- what an account may see and cancel


async def _mine(session: AsyncSession, *, channel: str, user_key: str) -> ColumnElement[bool]:
    asked = (col(Order.requested_by_channel) == channel) & (col(Order.requested_by_key) == user_key)
    resident_id = await verified_resident(session, channel=channel, user_key=user_key)
    if resident_id is None:
        return asked
    return or_(asked, col(Order.resident_id) == resident_id)


async def list_mine(session: AsyncSession, *, channel: str, user_key: str, limit: int = 10) -> list[Order]:
    """Return the orders the account asked for, plus (verified only) those of its resident, newest first."""
    mine = await _mine(session, channel=channel, user_key=user_key)
    result = await session.execute(
        select(Order).where(mine).order_by(col(Order.created_at).desc(), col(Order.id).desc()).limit(limit)
    )
    return list(result.scalars())


async def get_mine(session: AsyncSession, *, channel: str, user_key: str, order_id: int) -> Order:
    """Return one order the account may see (as list_mine); raise NotFound for any other."""
    mine = await _mine(session, channel=channel, user_key=user_key)
    result = await session.execute(select(Order).where(col(Order.id) == order_id, mine))
    order = result.scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order


async def cancel_mine(session: AsyncSession, *, channel: str, user_key: str, order_id: int, reason: str) -> Order:
    """Cancel an order the account may see and that no provider has yet; return it (NotFound otherwise)."""
    order = await get_mine(session, channel=channel, user_key=user_key, order_id=order_id)
    if order.status not in CANCELLABLE:
        raise InvalidInput(MSG_TOO_LATE)
    return await orders.cancel(
        session,
        order_id=order_id,
        reason=reason,
        actor=Actor(kind="resident", name=None, channel=channel),
        expected_version=order.version,
    )


# ---------------------------------------------------------------- whom a request is for


@dataclass
class Resolved:
    """The record a request goes to, whether it is new, and what it brings for an existing record."""

    resident: Resident
    created: bool
    proposed: dict[str, Any] = field(default_factory=dict)
    verified: bool = False  # the asking account may be bound to it as verified


def _proposals(resident: Resident, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in PROPOSABLE:
        value = values.get(key)
        if value is None or (key == "income_tier" and value == "unknown"):
            continue
        if getattr(resident, key) != value:
            out[key] = value
    return out


async def _speaks_for(session: AsyncSession, *, resident_id: int, channel: str, user_key: str, for_self: bool) -> bool:
    """Return True when the account may add requests to this record: its own binding, or its own family record."""
    if for_self:
        row = await get_binding(session, channel=channel, user_key=user_key)
        return row is not None and row.resident_id == resident_id and row.revoked_at is None
    result = await session.execute(
        select(col(FamilyContact.id)).where(
            col(FamilyContact.resident_id) == resident_id,
            col(FamilyContact.channel) == channel,
            col(FamilyContact.user_key) == user_key,
            col(FamilyContact.revoked_at).is_(None),
        )
    )
    return result.first() is not None


async def resolve(
    session: AsyncSession,
    *,
    district_id: int,
    name: str,
    phone: str,
    values: dict[str, Any],
    channel: str,
    user_key: str | None,
    for_self: bool,
    phone_verified: bool,
) -> Resolved:
    """Return the record a request is for; an existing record is never written over.

    The existing resident (same district, name and phone) when the desk took the request by phone,
    the account verified its phone, or the account already speaks for that record; otherwise a
    new record — marked "possibly the same person as" the existing one when there is one.
    """
    if phone_verified and user_key:
        # A contact proves the phone, but not against the desk's decision to take this account back.
        row = await get_binding(session, channel=channel, user_key=user_key)
        phone_verified = row is None or row.revoked_at is None
    existing = await residents.get_by_name_and_phone(
        session, district_id=district_id, name=" ".join(name.split())[:50], phone=parsing.parse_phone(phone)
    )
    if existing is None:
        resident = await residents.create(session, district_id=district_id, name=name, phone=phone, values=values)
        return Resolved(resident=resident, created=True, verified=for_self and phone_verified)
    assert existing.id is not None
    proposed = _proposals(existing, residents.clean(values))
    trusted = channel == "phone" or (for_self and phone_verified)
    if not trusted and user_key:
        trusted = await _speaks_for(
            session, resident_id=existing.id, channel=channel, user_key=user_key, for_self=for_self
        )
    if trusted:
        return Resolved(resident=existing, created=False, proposed=proposed, verified=for_self and phone_verified)
    # An account that already asked for this person before keeps using its own provisional record.
    earlier = None
    if user_key:
        earlier = (
            await session.execute(
                select(Resident)
                .join(Order, col(Order.resident_id) == col(Resident.id))
                .where(
                    col(Resident.same_as_id) == existing.id,
                    col(Resident.purged_at).is_(None),
                    col(Order.requested_by_channel) == channel,
                    col(Order.requested_by_key) == user_key,
                )
                .limit(1)
            )
        ).scalar_one_or_none()
    if earlier is not None:
        return Resolved(resident=earlier, created=False, proposed=proposed)
    provisional = await residents.create(
        session, district_id=district_id, name=name, phone=phone, values=values, same_as_id=existing.id
    )
    return Resolved(resident=provisional, created=True, proposed=proposed)


# ---------------------------------------------------------------- family members


async def record_family(
    session: AsyncSession,
    *,
    resident_id: int,
    channel: str,
    user_key: str,
    name: str | None,
    relation: str | None,
    phone: str | None,
    consent_version: str,
) -> FamilyContact:
    """Keep the asking family member as their own record linked to the resident (unconfirmed); return it."""
    existing = (
        await session.execute(
            select(FamilyContact).where(
                col(FamilyContact.resident_id) == resident_id,
                col(FamilyContact.channel) == channel,
                col(FamilyContact.user_key) == user_key,
            )
        )
    ).scalar_one_or_none()
    now = clock.now()
    contact = existing or FamilyContact(resident_id=resident_id, name="", channel=channel, created_at=now)
    contact.user_key = user_key
    # What the desk confirmed stays as confirmed; a later chat only fills what is missing.
    confirmed = contact.verified_at is not None
    if name and not (confirmed and contact.name):
        contact.name = name[:50]
    if relation and not (confirmed and contact.relation):
        contact.relation = relation
    if phone and not (confirmed and contact.phone):
        contact.phone = parsing.parse_phone(phone)
    contact.consent_version = consent_version
    contact.consent_at = now
    session.add(contact)
    await session.flush()
    return contact


# ---------------------------------------------------------------- the desk


async def _owned_by(session: AsyncSession, model: Any, row_id: int, *, resident_id: int, access: Access) -> Any:
    """Return the binding or family row when it is the visible resident's; NotFound otherwise."""
    await residents.get_visible(session, resident_id=resident_id, access=access)
    row = await session.get(model, row_id)
    if row is None or row.resident_id != resident_id:
        raise NotFound()
    return row


async def confirm(session: AsyncSession, *, resident_id: int, binding_id: int, access: Access) -> ResidentChannel:
    """Confirm a messenger account as the resident's own (records who and when; logged); return it."""
    row: ResidentChannel = await _owned_by(session, ResidentChannel, binding_id, resident_id=resident_id, access=access)
    row.verified_at = clock.now()
    row.verified_how = VIA_DESK
    row.verified_by = access.operator_id
    row.revoked_at = row.revoked_by = None
    session.add(row)
    await access.log(session, action="binding_confirm", resident_id=resident_id, detail=f"{row.channel} #{row.id}")
    await session.flush()
    return row


async def revoke(session: AsyncSession, *, resident_id: int, binding_id: int, access: Access) -> ResidentChannel:
    """Take back a binding: the account no longer sees or receives anything of the resident (logged); return it."""
    row: ResidentChannel = await _owned_by(session, ResidentChannel, binding_id, resident_id=resident_id, access=access)
    row.verified_at = row.verified_how = row.verified_by = None
    row.revoked_at = clock.now()
    row.revoked_by = access.operator_id
    session.add(row)
    await access.log(session, action="binding_revoke", resident_id=resident_id, detail=f"{row.channel} #{row.id}")
    await session.flush()
    return row


async def confirm_family(session: AsyncSession, *, resident_id: int, family_id: int, access: Access) -> FamilyContact:
    """Confirm a family member's messenger account, so the alerts they are registered for reach it (logged)."""
    contact: FamilyContact = await _owned_by(session, FamilyContact, family_id, resident_id=resident_id, access=access)
    contact.verified_at = clock.now()
    contact.verified_by = access.operator_id
    contact.revoked_at = contact.revoked_by = None
    session.add(contact)
    await access.log(session, action="family_confirm", resident_id=resident_id, detail=f"#{contact.id}")
    await session.flush()
    return contact


async def revoke_family(session: AsyncSession, *, resident_id: int, family_id: int, access: Access) -> FamilyContact:
    """Take back a family member's binding: no more alerts to that account (logged); return it."""
    contact: FamilyContact = await _owned_by(session, FamilyContact, family_id, resident_id=resident_id, access=access)
    contact.verified_at = contact.verified_by = None
    contact.revoked_at = clock.now()
    contact.revoked_by = access.operator_id
    session.add(contact)
    await access.log(session, action="family_revoke", resident_id=resident_id, detail=f"#{contact.id}")
    await session.flush()
    return contact


@dataclass
class Proposal:
    """One value a request brought that differs from the record, in words."""

    field: str
    label: str
    current: str
    proposed: str


@dataclass
class OrderIdentity:
    """What the order page shows about who asked: the possible same person and the proposed changes."""

    same_as: Resident | None
    same_as_dong: str | None
    proposals: list[Proposal]
    requester_verified: bool | None  # None: not asked through a messenger account


async def _show(session: AsyncSession, key: str, value: Any, locale: str | None) -> str:
    if value is None:
        return "-"
    if key == "dong_id":
        dong = await session.get(Dong, value)
        return dong.name if dong else "-"
    if key == "income_tier":
        return labels.label(labels.INCOME_TIER, value, locale)
    if value is True:
        return gettext(N_("Yes"), locale)
    if value is False:
        return gettext(N_("No"), locale)
    return str(value)


async def for_order(session: AsyncSession, *, order: Order, access: Access, locale: str | None = None) -> OrderIdentity:
    """Return who asked for the order and what it proposes, for the order page (the caller checked scope).

    The possibly-same resident shown beside it is a look at their data too, and is logged.
    """
    resident = await session.get(Resident, order.resident_id)
    assert resident is not None
    same_as = await session.get(Resident, resident.same_as_id) if resident.same_as_id else None
    if same_as is not None:
        if not access.sees(same_as.district_id):
            same_as = None
        else:
            await access.log(session, action="order_view", resident_id=same_as.id, detail=order.receipt_no)
    target = same_as or resident
    proposals = [
        Proposal(
            field=key,
            label=gettext(FIELD_LABELS[key], locale),
            current=await _show(session, key, getattr(target, key), locale),
            proposed=await _show(session, key, value, locale),
        )
        for key, value in (order.proposed or {}).items()
        if key in FIELD_LABELS
    ]
    requester_verified: bool | None = None
    if order.requested_by_channel in ("telegram", "webchat") and order.requested_by_key:
        bound = await verified_resident(session, channel=order.requested_by_channel, user_key=order.requested_by_key)
        requester_verified = bound == order.resident_id
    dong = await session.get(Dong, same_as.dong_id) if same_as and same_as.dong_id else None
    return OrderIdentity(
        same_as=same_as,
        same_as_dong=dong.name if dong else None,
        proposals=proposals,
        requester_verified=requester_verified,
    )


async def merge(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    """Merge a "possibly the same" record into the resident it names (the desk decided); return that resident.

    (The bulk updates keep loaded objects in step: SQLAlchemy's default synchronize_session.)

    Its orders, consents, claims, family records and threads move over; claims stay unconfirmed;
    the record itself is deleted. Nothing of it is written over the resident's values.
    """
    provisional = await residents.get_visible(session, resident_id=resident_id, access=access)
    if provisional.same_as_id is None:
        raise InvalidInput()
    target = await residents.get_visible(session, resident_id=provisional.same_as_id, access=access)
    old, new = provisional.id, target.id
    for model in (Order, Consent, ResidentChannel, FamilyContact, DeskThread, Referral):
        await session.execute(
            update(model)
            .where(col(model.resident_id) == old)  # type: ignore[attr-defined]
            .values(resident_id=new)
        )
    taken = select(col(CheckinSlot.scheduled_at)).where(col(CheckinSlot.resident_id) == new)
    await session.execute(
        delete(CheckinSlot).where(col(CheckinSlot.resident_id) == old, col(CheckinSlot.scheduled_at).in_(taken))
    )
    await session.execute(update(CheckinSlot).where(col(CheckinSlot.resident_id) == old).values(resident_id=new))
    if await session.scalar(select(col(CheckinSchedule.id)).where(col(CheckinSchedule.resident_id) == new)):
        await session.execute(delete(CheckinSchedule).where(col(CheckinSchedule.resident_id) == old))
    else:
        await session.execute(
            update(CheckinSchedule).where(col(CheckinSchedule.resident_id) == old).values(resident_id=new)
        )
    await session.execute(update(Resident).where(col(Resident.same_as_id) == old).values(same_as_id=new))
    await access.log(session, action="resident_merge", resident_id=new, detail=f"#{old} → #{new}")
    await session.flush()
    await session.delete(provisional)
    await session.flush()
    return target


async def dismiss(session: AsyncSession, *, resident_id: int, access: Access) -> Resident:
    """Record the desk's finding that a "possibly the same" record is someone else; return it."""
    provisional = await residents.get_visible(session, resident_id=resident_id, access=access)
    if provisional.same_as_id is None:
        raise InvalidInput()
    named = provisional.same_as_id
    provisional.same_as_id = None
    session.add(provisional)
    await access.log(session, action="resident_not_same", resident_id=resident_id, detail=f"≠ #{named}")
    await session.flush()
    return provisional


async def apply_proposed(session: AsyncSession, *, order_id: int, key: str, apply: bool, access: Access) -> Order:
    """Apply (or set aside) one proposed change of an order to its resident's record (logged); return the order."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound()
    resident = await residents.get_visible(session, resident_id=order.resident_id, access=access)
    proposed = dict(order.proposed or {})
    if key not in proposed:
        raise NotFound()
    if resident.same_as_id is not None:
        raise InvalidInput(MSG_NOT_SAME_YET)
    if apply:
        await residents.update(session, resident_id=resident.id, access=access, values={key: proposed[key]})  # type: ignore[arg-type]
    else:
        await access.log(session, action="proposal_set_aside", resident_id=resident.id, detail=f"{key}")
    del proposed[key]
    order.proposed = proposed
    session.add(order)
    await session.flush()
    return order
