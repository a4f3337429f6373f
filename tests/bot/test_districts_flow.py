"""Several districts in one deployment: the resident picks the 구 then the 동; a /start link preselects the 구."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import District, Dong, Order, Resident
from tests.bot.flow_steps import SERVICE_BUTTON, service_questions
from tests.bot.harness import Person
from tests.factories import Place, make_district

NAV = {"처음으로", "취소"}


@pytest.fixture
async def two(db: Database, place: Place) -> Place:
    """A second district (은평구, one 동 not in use) and a third that is not in use (종로구)."""
    async with db.transaction() as s:
        other = await make_district(s, name="은평구")
        other.dongs[-1].active = False
        s.add(other.dongs[-1])
        closed = await make_district(s, name="종로구")
        closed.district.active = False
        s.add(closed.district)
    return other


async def _until_phone(p: Person, start: str = "/start") -> None:
    await p.say(start)
    await p.press("서비스 신청")
    await p.press(SERVICE_BUTTON["meals"])
    await p.press("본인")
    await p.say("김영희")
    await p.share_contact("821012345678")


async def _rest(p: Person) -> None:
    await p.say("망원로 12, 3층")
    await p.say("1942년생")
    await p.press("아니요")
    await p.press("네")
    await p.press("네")
    await p.press("아니요")
    await p.press("기초생활수급")
    await service_questions(p, "meals")
    await p.say("다음 주 화요일")
    await p.press("네")
    await p.say("계단이 많아요")
    await p.press("동의합니다")
    await p.press("동의합니다")
    await p.press("신청하기")


def _choices(p: Person) -> set[str]:
    return set(p.buttons()) - NAV


async def _the_order(db: Database) -> tuple[Order, Resident]:
    async with db.sessions() as s:
        order = (await s.execute(select(Order))).scalar_one()
        resident = await s.get(Resident, order.resident_id)
        assert resident is not None
        return order, resident


async def test_a_resident_picks_district_b_and_a_dong_of_b_and_the_order_lands_in_b(
    db: Database, person: Person, place: Place, two: Place
) -> None:
    p = person
    await _until_phone(p)
    assert "어느 구에 사세요?" in p.last_texts()
    assert _choices(p) == {"마포구", "은평구"}  # 종로구 is not in use
    await p.press("은평구")
    assert "구: 은평구" in p.last_texts(2)
    offered = {d.name for d in two.dongs if d.active} | {"다른 구 고르기"}
    assert _choices(p) == offered
    dong = two.dongs[0]
    await p.press(dong.name)
    await _rest(p)
    order, resident = await _the_order(db)
    assert order.district_id == two.district_id
    assert (resident.district_id, resident.dong_id) == (two.district_id, dong.id)


async def test_another_district_button_asks_the_district_again(
    db: Database, person: Person, place: Place, two: Place
) -> None:
    p = person
    await _until_phone(p)
    await p.press("은평구")
    await p.press("다른 구 고르기")
    assert _choices(p) == {"마포구", "은평구"}
    await p.press("마포구")
    assert _choices(p) == {d.name for d in place.dongs} | {"다른 구 고르기"}
    await p.press(place.dongs[1].name)
    await _rest(p)
    order, resident = await _the_order(db)
    assert (order.district_id, resident.dong_id) == (place.district_id, place.dongs[1].id)


async def test_a_start_link_with_a_district_code_preselects_it(
    db: Database, person: Person, place: Place, two: Place
) -> None:
    p = person
    await _until_phone(p, start=f"/start {two.district.code}")
    assert "어느 구에" not in p.last_texts()
    assert _choices(p) == {d.name for d in two.dongs if d.active} | {"다른 구 고르기"}
    await p.press(two.dongs[1].name)
    await _rest(p)
    order, resident = await _the_order(db)
    assert (order.district_id, resident.dong_id) == (two.district_id, two.dongs[1].id)


async def test_a_start_link_of_a_district_not_in_use_is_not_taken(
    db: Database, person: Person, place: Place, two: Place
) -> None:
    async with db.sessions() as s:
        closed = (await s.execute(select(District).where(District.name == "종로구"))).scalar_one()
    p = person
    await _until_phone(p, start=f"/start {closed.code}")
    assert _choices(p) == {"마포구", "은평구"}


async def test_one_district_asks_no_district_question_and_hides_dongs_not_in_use(
    db: Database, person: Person, place: Place
) -> None:
    async with db.transaction() as s:
        dong = await s.get(Dong, place.dongs[-1].id)
        assert dong is not None
        dong.active = False
    p = person
    await _until_phone(p)
    assert "어느 구에" not in p.last_texts()
    assert _choices(p) == {d.name for d in place.dongs[:-1]}
    await p.press(place.dongs[0].name)
    await _rest(p)
    order, _ = await _the_order(db)
    assert order.district_id == place.district_id


async def test_a_district_set_up_from_a_workbook_on_an_empty_database_takes_a_request_for_its_dong(
    db: Database,
) -> None:
    from care import workbook
    from care.auth import Access
    from tests import workbooks

    admin = Access(operator_id=None, username="first-admin", ip=None, district_id=None, role="admin")
    async with db.transaction() as s:
        applied = await workbook.import_workbook(s, access=admin, data=workbooks.new_district())
    p = Person(db, user_id=5550777)
    await _until_phone(p)
    assert _choices(p) == {"홍제1동", "홍은1동", "남가좌1동", "신촌동", "연희동"}  # 천연동 is not in use
    await p.press("연희동")
    await _rest(p)
    order, resident = await _the_order(db)
    async with db.sessions() as s:
        dong = (await s.execute(select(Dong).where(Dong.name == "연희동"))).scalar_one()
    assert (order.district_id, resident.dong_id) == (applied.district_id, dong.id)
