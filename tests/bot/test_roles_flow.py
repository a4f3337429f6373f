"""Joining with an invite code through the real Dispatcher: deep link, typed code, refusals, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from care import invites
from dolbom import clock
from dolbom.i18n import gettext
from storage.db import Database
from storage.models import AccessLog, ChannelBinding
from tests.bot.care_people import invite_code, joined_care_manager
from tests.bot.harness import Person
from tests.factories import Place, make_care_manager


async def test_deep_link_binds_a_care_manager_and_shows_their_menu(db: Database, place: Place) -> None:
    person, manager = await joined_care_manager(db, place)
    assert "반갑습니다" in person.last_texts(2)
    assert set(person.buttons()) == {"의뢰하기", "내 의뢰 현황", gettext("Ask the desk")}
    async with db.sessions() as s:
        binding = await invites.get_binding(s, channel="telegram", user_key=str(person.user_id))
        assert binding is not None and binding.care_manager_id == manager.id and binding.display_name == "민정"
    await person.say("/start")
    assert set(person.buttons()) == {"의뢰하기", "내 의뢰 현황", gettext("Ask the desk")}


async def test_a_typed_code_at_the_menu_works_too(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        manager = await make_care_manager(s, place)
    code = await invite_code(db, care_manager_id=manager.id)
    person = Person(db, user_id=8001)
    await person.say("/start")
    await person.say(code.lower().replace("-", " "))
    assert "반갑습니다" in person.last_texts(2)
    assert "의뢰하기" in person.buttons()


async def test_a_reused_code_is_refused_politely(db: Database, place: Place) -> None:
    async with db.transaction() as s:
        manager = await make_care_manager(s, place)
    code = await invite_code(db, care_manager_id=manager.id)
    first, second = Person(db, user_id=8001), Person(db, user_id=8002)
    await first.say(f"/start {code}")
    await second.say(f"/start {code}")
    print("\n".join(second.transcript))
    assert gettext(invites.MSG_USED, "ko") in second.last_texts(2)
    assert "의뢰하기" not in second.buttons()  # still a resident
    async with db.sessions() as s:
        assert await invites.get_binding(s, channel="telegram", user_key="8002") is None


async def test_an_expired_code_is_refused_politely(db: Database, place: Place) -> None:
    clock.set_now(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    async with db.transaction() as s:
        manager = await make_care_manager(s, place)
    code = await invite_code(db, care_manager_id=manager.id)
    clock.set_now(datetime(2026, 11, 30, 1, 0, tzinfo=UTC) + timedelta(seconds=1))
    person = Person(db, user_id=8003)
    await person.say(f"/start {code}")
    assert gettext(invites.MSG_EXPIRED, "ko") in person.last_texts(2)
    async with db.sessions() as s:
        assert (await s.execute(select(ChannelBinding))).first() is None


async def test_an_unknown_code_is_refused_and_logged(db: Database, place: Place) -> None:
    person = Person(db, user_id=8004)
    await person.say("/start ABCD-EFGH")
    assert gettext(invites.MSG_UNKNOWN, "ko") in person.last_texts(2)
    async with db.sessions() as s:
        assert (await s.execute(select(AccessLog.detail).where(AccessLog.action == "invite_unknown"))).scalar_one() == (
            "telegram:8004"
        )


async def test_a_revoked_account_is_a_resident_again(db: Database, place: Place) -> None:
    person, _manager = await joined_care_manager(db, place)
    await person.press("의뢰하기")
    async with db.transaction() as s:
        binding = await invites.get_binding(s, channel="telegram", user_key=str(person.user_id))
        assert binding is not None
        await invites.revoke(s, binding_id=binding.id)  # type: ignore[arg-type]
    await person.say("박순자")  # in the middle of the referral
    assert "연결되어 있지 않아요" in person.last_texts(3)
    await person.say("/start")
    assert "의뢰하기" not in person.buttons() and "서비스 신청" in person.buttons()
