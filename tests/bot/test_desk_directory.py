"""The bot and the district directory: the desk's phone in "call the desk" texts, switched-off 동 not offered."""

from __future__ import annotations

from sqlalchemy import select

from care import directory
from care.auth import Access
from storage.db import Database
from storage.models import Outbox
from tests.bot.harness import Person
from tests.factories import Place

ADMIN = Access(operator_id=None, username="admin", ip=None, district_id=None, role="admin")


async def _set_phone(db: Database, place: Place, phone: str | None, hours: str | None = None) -> None:
    async with db.transaction() as s:
        d = place.district
        await directory.update_district(
            s, access=ADMIN, district_id=place.district_id, code=d.code, name=d.name, phone=phone, office_hours=hours
        )


async def _to_dong_step(p: Person) -> None:
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press("식사 배달")
    await p.press("본인")
    await p.say("김영희")
    await p.share_contact("821012345678")


async def test_a_switched_off_dong_is_not_offered_to_a_new_request(db: Database, place: Place) -> None:
    gone = place.dongs[0]
    async with db.transaction() as s:
        await directory.deactivate_dong(s, access=ADMIN, dong_id=gone.id)  # type: ignore[arg-type]
    p = Person(db)
    await _to_dong_step(p)
    offered = set(p.buttons())
    assert gone.name not in offered
    assert {d.name for d in place.dongs[1:]} <= offered


async def test_the_receipt_gives_the_desks_phone_and_hours(db: Database, place: Place) -> None:
    from tests.bot.flow_steps import full_request

    await _set_phone(db, place, "02-3153-8000", "평일 9시-18시")
    p = Person(db)
    await full_request(p)
    async with db.sessions() as s:
        receipt = (await s.execute(select(Outbox).where(Outbox.kind == "receipt"))).scalar_one()
    assert "02-3153-8000" in receipt.text and "평일 9시-18시" in receipt.text


async def test_a_wrong_number_for_check_ins_is_told_the_desks_phone(db: Database, place: Place) -> None:
    from tests.bot.test_identity import request_for_self

    p = Person(db)
    await request_for_self(p, name="최말순", typed_phone="010-2222-3333")  # typed, not yet checked
    await p.say("/start")
    await p.press("안부 확인 받기")
    await p.share_contact("821099998888")  # her own card, but not the number on the request
    without = p.last_texts(3)
    assert "02-3153-8000" not in without
    await _set_phone(db, place, "02-3153-8000")
    await p.say("/start")
    await p.press("안부 확인 받기")
    await p.share_contact("821099998888")
    assert "02-3153-8000" in p.last_texts(3)
