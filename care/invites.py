"""Invite codes and channel bindings: how a care manager or a provider's staff joins the bot.

The console issues a one-time code (valid 7 days) for a care manager (bound to a dong) or a
provider's staff member (bound to a provider). Redeeming it in the bot binds that messenger
account to the role; the console can revoke a binding, and the account is a resident again.

Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
"K7M4-PX2Q"; typed codes are accepted in any case, with or without the dash or spaces. The
same text is a valid Telegram deep-link argument (`t.me/<bot>?start=K7M4-PX2Q`).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Final

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import registration_numbers
from care.auth import Access
from dolbom import clock
from dolbom.errors import DuplicateError, InvalidInput, NotFound, RuleViolation
from dolbom.i18n import N_
from storage import audit
from storage.models import CareManager, ChannelBinding, Dong, InviteCode, Provider

ROLES: Final = ("care_manager", "provider_staff")
ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH: Final = 8
CODE_PATTERN: Final = re.compile(rf"^[{ALPHABET}]{{4}}-?[{ALPHABET}]{{4}}$")

MSG_UNKNOWN: Final = N_("This invite code is not known. Please check it and type it again.")
MSG_EXPIRED: Final = N_("This invite code has expired. Please ask the desk for a new one.")
MSG_USED: Final = N_("This invite code has been used already. Please ask the desk for a new one.")
MSG_INACTIVE: Final = N_("This invite code can no longer be used. Please ask the desk.")
MSG_ROLE: Final = N_("An invite code is for a care manager or for a provider's staff.")


def normalize(text: str) -> str:
    """Return a typed code in its stored form "XXXX-XXXX" (upper case; spaces and dashes ignored)."""
    raw = re.sub(r"[\s\-_]", "", text or "").upper()
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == CODE_LENGTH else raw


def looks_like_code(text: str | None) -> bool:
    """Return True when typed text has the shape of an invite code (the bot uses this)."""
    return bool(text) and bool(CODE_PATTERN.match(normalize(text or "")))


def deep_link(*, code: str, bot_username: str) -> str:
    """Return the Telegram link that starts the bot with this code."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


async def create(
    session: AsyncSession,
    *,
    role: str,
    care_manager_id: int | None = None,
    provider_id: int | None = None,
    created_by: int | None,
    valid_days: int = 7,
) -> InviteCode:
    """Issue a one-time invite code for a care manager or a provider's staff and return it."""
    if role not in ROLES:
        raise InvalidInput(MSG_ROLE)
    if role == "care_manager":
        if care_manager_id is None or provider_id is not None:
            raise InvalidInput(MSG_ROLE)
        manager = await session.get(CareManager, care_manager_id)
        if manager is None:
            raise NotFound()
        if not manager.active:
            raise RuleViolation(MSG_INACTIVE)
    else:
        if provider_id is None or care_manager_id is not None:
            raise InvalidInput(MSG_ROLE)
        provider = await session.get(Provider, provider_id)
        if provider is None:
            raise NotFound()
        if not provider.active:
            raise RuleViolation(MSG_INACTIVE)
    if valid_days < 1:
        raise InvalidInput(N_("An invite code is valid for at least one day."))
    for _ in range(20):
        code = _new_code()
        taken = (await session.execute(select(InviteCode.id).where(InviteCode.code == code))).first()
        if taken is None:
            break
    else:  # pragma: no cover - 31^8 codes
        raise DuplicateError()
    now = clock.now()
    invite = InviteCode(
        code=code,
        role=role,
        care_manager_id=care_manager_id,
        provider_id=provider_id,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    session.add(invite)
    await session.flush()
    return invite


async def list_active(session: AsyncSession, *, district_id: int) -> list[InviteCode]:
    """Return the district's unused, unexpired invite codes, newest first."""
    now = clock.now()
    managers = select(CareManager.id).where(CareManager.district_id == district_id)
    providers = select(Provider.id).where(Provider.district_id == district_id)
    result = await session.execute(
        select(InviteCode)
        .where(
            col(InviteCode.used_at).is_(None),
            InviteCode.expires_at > now,
            or_(
                col(InviteCode.care_manager_id).in_(managers),
                col(InviteCode.provider_id).in_(providers),
            ),
        )
        .order_by(col(InviteCode.created_at).desc(), col(InviteCode.id).desc())
    )
    return list(result.scalars())


async def district_of(session: AsyncSession, invite: InviteCode) -> int | None:
    """Return the district of the care manager or provider an invite code is for."""
    owner = (
        await session.get(CareManager, invite.care_manager_id)
        if invite.care_manager_id is not None
        else await session.get(Provider, invite.provider_id)
        if invite.provider_id is not None
        else None
    )
    return owner.district_id if owner is not None else None


async def create_for_desk(session: AsyncSession, *, access: Access, target: str) -> InviteCode:
    """Make a code for "cm:<care manager id>" or "pv:<provider id>" of the admin's district (logged)."""
    access.check_admin()
    kind, _, raw_id = target.partition(":")
    target_id = int(raw_id) if raw_id.isdigit() else None
    owner: CareManager | Provider | None = None
    if kind == "cm" and target_id is not None:
        owner = await session.get(CareManager, target_id)
    elif kind == "pv" and target_id is not None:
        owner = await session.get(Provider, target_id)
    if owner is None or not access.sees(owner.district_id):
        raise NotFound()
    if isinstance(owner, CareManager):
        invite = await create(session, role="care_manager", care_manager_id=target_id, created_by=access.operator_id)
    else:
        invite = await create(session, role="provider_staff", provider_id=target_id, created_by=access.operator_id)
    await access.log(session, action="invite_create", detail=f"{invite.role} {target}")
    return invite


async def withdraw(session: AsyncSession, *, invite_id: int, access: Access) -> InviteCode:
    """Make an unused invite code of the admin's district unusable at once (it expires now) and return it."""
    access.check_admin()
    invite = await session.get(InviteCode, invite_id)
    if invite is None or not access.sees(await district_of(session, invite)):
        raise NotFound()
    if invite.used_at is None and invite.expires_at > clock.now():
        invite.expires_at = clock.now()
        session.add(invite)
        await access.log(session, action="invite_withdrawn", detail=f"invite {invite.id}")
        await session.flush()
    return invite


async def redeem(
    session: AsyncSession,
    *,
    code: str,
    channel: str,
    user_key: str,
    display_name: str | None,
) -> ChannelBinding:
    """Use a code: bind the messenger account to its role and return the binding.

    Unknown, expired, used codes and codes of a paused manager or provider raise errors
    with their own msgids (MSG_UNKNOWN, MSG_EXPIRED, MSG_USED, MSG_INACTIVE). An account that
    was bound before (to another role or organisation) keeps only the new binding.
    """
    normalized = normalize(code)
    invite = (await session.execute(select(InviteCode).where(InviteCode.code == normalized))).scalar_one_or_none()
    if invite is None:
        await audit.record(session, action="invite_unknown", detail=f"{channel}:{user_key}")
        raise InvalidInput(MSG_UNKNOWN)
    now = clock.now()
    if invite.used_at is not None:
        raise RuleViolation(MSG_USED)
    if invite.expires_at <= now:
        raise RuleViolation(MSG_EXPIRED)
    if invite.role == "care_manager":
        manager = await session.get(CareManager, invite.care_manager_id)
        if manager is None or not manager.active:
            raise RuleViolation(MSG_INACTIVE)
    else:
        provider = await session.get(Provider, invite.provider_id)
        if provider is None or not provider.active:
            raise RuleViolation(MSG_INACTIVE)
    # One winner when the same code is typed twice at once.
    used = await session.execute(
        update(InviteCode)
        .where(col(InviteCode.id) == invite.id, col(InviteCode.used_at).is_(None))
        .values(used_at=now, used_by_key=f"{channel}:{user_key}")
        .execution_options(synchronize_session=False)
    )
    if not used.rowcount:  # type: ignore[attr-defined]
        raise RuleViolation(MSG_USED)
    for old in await _active_bindings(session, channel=channel, user_key=user_key):
        old.revoked_at = now
        session.add(old)
    binding = ChannelBinding(
        channel=channel,
        user_key=user_key,
        role=invite.role,
        care_manager_id=invite.care_manager_id,
        provider_id=invite.provider_id,
        # The messenger profile's name is not typed to us: a number in it is blanked, not refused.
        display_name=registration_numbers.redact((display_name or "").strip()[:100]) or None,
        created_at=now,
    )
    session.add(binding)
    await session.flush()
    await audit.record(
        session, action="binding_created", detail=f"binding {binding.id} {invite.role} via invite {invite.id}"
    )
    await session.refresh(invite)
    return binding


async def _active_bindings(session: AsyncSession, *, channel: str, user_key: str) -> list[ChannelBinding]:
    result = await session.execute(
        select(ChannelBinding)
        .where(
            col(ChannelBinding.channel) == channel,
            col(ChannelBinding.user_key) == user_key,
            col(ChannelBinding.revoked_at).is_(None),
        )
        .order_by(col(ChannelBinding.id).desc())
    )
    return list(result.scalars())


async def get_binding(session: AsyncSession, *, channel: str, user_key: str) -> ChannelBinding | None:
    """Return the account's active binding (newest), or None: then the account is a resident.

    A binding to a care manager or provider that the desk has paused counts as inactive.
    """
    bindings = await _active_bindings(session, channel=channel, user_key=user_key)
    if not bindings:
        return None
    binding = bindings[0]
    if binding.role == "care_manager":
        manager = await session.get(CareManager, binding.care_manager_id)
        return binding if manager is not None and manager.active else None
    provider = await session.get(Provider, binding.provider_id)
    return binding if provider is not None and provider.active else None


async def revoke(session: AsyncSession, *, binding_id: int, operator_id: int | None = None) -> ChannelBinding:
    """End a binding (the account is treated as a resident again) and return it."""
    binding = await session.get(ChannelBinding, binding_id)
    if binding is None:
        raise NotFound()
    if binding.revoked_at is None:
        binding.revoked_at = clock.now()
        session.add(binding)
        await audit.record(session, action="binding_revoked", operator_id=operator_id, detail=f"binding {binding.id}")
        await session.flush()
    return binding


async def list_bindings(
    session: AsyncSession, *, district_id: int, include_revoked: bool = False
) -> list[ChannelBinding]:
    """Return the district's bindings (care managers and provider staff), newest first."""
    managers = select(CareManager.id).where(CareManager.district_id == district_id)
    providers = select(Provider.id).where(Provider.district_id == district_id)
    query = select(ChannelBinding).where(
        or_(
            col(ChannelBinding.care_manager_id).in_(managers),
            col(ChannelBinding.provider_id).in_(providers),
        )
    )
    if not include_revoked:
        query = query.where(col(ChannelBinding.revoked_at).is_(None))
    result = await session.execute(query.order_by(col(ChannelBinding.created_at).desc(), col(ChannelBinding.id).desc()))
    return list(result.scalars())


async def list_provider_accounts(session: AsyncSession, *, provider_id: int) -> list[ChannelBinding]:
    """Return the active bindings of a provider's staff."""
    result = await session.execute(
        select(ChannelBinding)
        .where(
            col(ChannelBinding.role) == "provider_staff",
            col(ChannelBinding.provider_id) == provider_id,
            col(ChannelBinding.revoked_at).is_(None),
        )
        .order_by(col(ChannelBinding.id))
    )
    return list(result.scalars())


async def list_care_manager_accounts(session: AsyncSession, *, care_manager_id: int) -> list[ChannelBinding]:
    """Return the active bindings of a care manager."""
    result = await session.execute(
        select(ChannelBinding)
        .where(
            col(ChannelBinding.role) == "care_manager",
            col(ChannelBinding.care_manager_id) == care_manager_id,
            col(ChannelBinding.revoked_at).is_(None),
        )
        .order_by(col(ChannelBinding.id))
    )
    return list(result.scalars())


async def describe(session: AsyncSession, *, binding: ChannelBinding) -> str:
    """Return who the binding stands for, in plain words: the manager's dong or the provider's name."""
    if binding.role == "care_manager" and binding.care_manager_id is not None:
        manager = await session.get(CareManager, binding.care_manager_id)
        if manager is not None:
            dong = await session.get(Dong, manager.dong_id)
            return f"{dong.name if dong else ''} {manager.name}".strip()
    if binding.provider_id is not None:
        provider = await session.get(Provider, binding.provider_id)
        if provider is not None:
            return provider.name
    return ""
