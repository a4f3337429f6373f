"""Invite codes and bindings: one-time, 7 days, typed kindly; revoked accounts are residents again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import invites
from care.auth import Access
from dolbom import clock
from dolbom.errors import AppError, InvalidInput, RuleViolation
from storage.db import Database
from storage.models import AccessLog
from tests.factories import make_care_manager, make_district, make_provider

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_a_code_is_short_unambiguous_and_valid_seven_days(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    assert len(invite.code) == 9 and invite.code[4] == "-"
    assert not set(invite.code.replace("-", "")) & set("01OIL")
    assert invite.expires_at == NOW + timedelta(days=7)
    assert invites.looks_like_code(invite.code.lower().replace("-", " "))
    assert await invites.list_active(session, district_id=place.district_id) == [invite]


async def test_redeem_binds_the_account_and_typed_forms_work(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    invite = await invites.create(session, role="provider_staff", provider_id=provider.id, created_by=None)
    typed = invite.code.replace("-", "").lower()
    binding = await invites.redeem(
        session, code=f" {typed} ", channel="telegram", user_key="777", display_name="최동훈"
    )
    assert (binding.role, binding.provider_id, binding.display_name) == ("provider_staff", provider.id, "최동훈")
    assert await invites.get_binding(session, channel="telegram", user_key="777") == binding
    assert invite.used_at is not None and invite.used_by_key == "telegram:777"
    assert await invites.list_active(session, district_id=place.district_id) == []


async def test_a_reused_code_is_refused_with_its_own_message(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    await invites.redeem(session, code=invite.code, channel="telegram", user_key="1", display_name=None)
    with pytest.raises(RuleViolation) as err:
        await invites.redeem(session, code=invite.code, channel="telegram", user_key="2", display_name=None)
    assert err.value.msgid == invites.MSG_USED
    assert await invites.get_binding(session, channel="telegram", user_key="2") is None


async def test_an_expired_code_is_refused_with_its_own_message(session: AsyncSession) -> None:
    clock.set_now(NOW)
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    clock.set_now(NOW + timedelta(days=7, seconds=1))
    with pytest.raises(RuleViolation) as err:
        await invites.redeem(session, code=invite.code, channel="telegram", user_key="1", display_name=None)
    assert err.value.msgid == invites.MSG_EXPIRED
    assert invite.used_at is None
    assert await invites.list_active(session, district_id=place.district_id) == []


async def test_an_unknown_code_is_refused_and_logged(session: AsyncSession) -> None:
    with pytest.raises(InvalidInput) as err:
        await invites.redeem(session, code="ABCD-EFGH", channel="telegram", user_key="9", display_name=None)
    assert err.value.msgid == invites.MSG_UNKNOWN
    actions = (await session.execute(select(AccessLog.action, AccessLog.detail))).all()
    assert ("invite_unknown", "telegram:9") in actions


async def test_the_three_refusals_have_distinct_messages() -> None:
    assert len({invites.MSG_UNKNOWN, invites.MSG_EXPIRED, invites.MSG_USED, invites.MSG_INACTIVE}) == 4


async def test_a_withdrawn_code_cannot_be_used(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    admin = Access(operator_id=None, username="admin", ip=None, district_id=place.district_id, role="admin")
    await invites.withdraw(session, invite_id=invite.id, access=admin)  # type: ignore[arg-type]
    with pytest.raises(RuleViolation):
        await invites.redeem(session, code=invite.code, channel="telegram", user_key="1", display_name=None)


async def test_a_code_for_a_paused_provider_is_refused(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    invite = await invites.create(session, role="provider_staff", provider_id=provider.id, created_by=None)
    provider.active = False
    session.add(provider)
    await session.flush()
    with pytest.raises(RuleViolation) as err:
        await invites.redeem(session, code=invite.code, channel="telegram", user_key="1", display_name=None)
    assert err.value.msgid == invites.MSG_INACTIVE


async def test_role_and_target_must_agree(session: AsyncSession) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    with pytest.raises(InvalidInput):
        await invites.create(session, role="care_manager", provider_id=provider.id, created_by=None)
    with pytest.raises(InvalidInput):
        await invites.create(session, role="admin", provider_id=provider.id, created_by=None)


async def test_revoked_binding_makes_the_account_a_resident_again(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    binding = await invites.redeem(session, code=invite.code, channel="telegram", user_key="5", display_name=None)
    assert await invites.list_bindings(session, district_id=place.district_id) == [binding]
    await invites.revoke(session, binding_id=binding.id)  # type: ignore[arg-type]
    assert await invites.get_binding(session, channel="telegram", user_key="5") is None
    assert await invites.list_bindings(session, district_id=place.district_id) == []
    assert await invites.list_bindings(session, district_id=place.district_id, include_revoked=True) == [binding]


async def test_a_new_code_replaces_the_accounts_old_binding(session: AsyncSession) -> None:
    place = await make_district(session)
    p1, p2 = await make_provider(session, place), await make_provider(session, place)
    first = await invites.create(session, role="provider_staff", provider_id=p1.id, created_by=None)
    second = await invites.create(session, role="provider_staff", provider_id=p2.id, created_by=None)
    old = await invites.redeem(session, code=first.code, channel="telegram", user_key="5", display_name=None)
    new = await invites.redeem(session, code=second.code, channel="telegram", user_key="5", display_name=None)
    assert old.revoked_at is not None
    current = await invites.get_binding(session, channel="telegram", user_key="5")
    assert current is not None and current.id == new.id and current.provider_id == p2.id


async def test_the_same_code_typed_twice_at_once_binds_one_account(db: Database) -> None:
    async with db.transaction() as s:
        place = await make_district(s)
        manager = await make_care_manager(s, place)
        code = (await invites.create(s, role="care_manager", care_manager_id=manager.id, created_by=None)).code

    async def attempt(key: str) -> str:
        try:
            async with db.transaction() as s:
                await invites.redeem(s, code=code, channel="telegram", user_key=key, display_name=None)
            return "ok"
        except AppError as err:
            return err.msgid

    outcomes = await asyncio.gather(attempt("a"), attempt("b"))
    assert sorted(outcomes) == sorted(["ok", invites.MSG_USED])
    async with db.sessions() as s:
        bound = [await invites.get_binding(s, channel="telegram", user_key=k) for k in ("a", "b")]
    assert sum(b is not None for b in bound) == 1


async def test_a_paused_care_manager_is_treated_as_a_resident(session: AsyncSession) -> None:
    place = await make_district(session)
    manager = await make_care_manager(session, place)
    invite = await invites.create(session, role="care_manager", care_manager_id=manager.id, created_by=None)
    await invites.redeem(session, code=invite.code, channel="telegram", user_key="5", display_name=None)
    manager.active = False
    session.add(manager)
    await session.flush()
    assert await invites.get_binding(session, channel="telegram", user_key="5") is None


async def test_a_registration_number_in_the_messenger_profile_name_is_blanked_not_stored(
    session: AsyncSession,
) -> None:
    place = await make_district(session)
    provider = await make_provider(session, place)
    invite = await invites.create(session, role="provider_staff", provider_id=provider.id, created_by=None)
    binding = await invites.redeem(
        session, code=invite.code, channel="telegram", user_key="778", display_name="최동훈 471208-2839465"
    )
    await session.commit()
    assert binding.display_name == "최동훈 [주민번호 삭제]"
