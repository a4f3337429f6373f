"""The desk finds people by their phone's last 4 digits from a stored column, kept with the phone on every write."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from care import personal_data, queue, residents
from care.auth import Access
from storage.models import Resident
from tests.factories import make_district, make_order, make_resident


def _desk(district_id: int) -> Access:
    return Access(operator_id=None, username="desk", ip=None, district_id=district_id, role="operator")


async def _found(session: AsyncSession, access: Access, digits: str) -> set[int]:
    page = await queue.list_orders(session, access=access, search=digits)
    return {r.order.resident_id for r in page.rows}


async def test_a_new_number_is_found_by_its_last_4_and_the_old_one_no_longer(session: AsyncSession) -> None:
    place = await make_district(session)
    person = await make_resident(session, place, phone="+821012345678")
    await make_order(session, person)
    assert person.phone_last4 == "5678"
    access = _desk(place.district_id)
    assert await _found(session, access, "5678") == {person.id}
    assert person.id is not None
    await residents.update(session, resident_id=person.id, access=access, values={"phone": "010-9876-4321"})
    await session.flush()
    assert await _found(session, access, "4321") == {person.id}
    assert await _found(session, access, "5678") == set()
    listed, total = await residents.list_residents(session, access=access, search="4321")
    assert total == 1 and listed[0][0].id == person.id


async def test_another_districts_person_with_the_same_last_4_is_not_shown(session: AsyncSession) -> None:
    mine, theirs = await make_district(session), await make_district(session, name="용산구")
    me = await make_resident(session, mine, phone="+821011112222")
    other = await make_resident(session, theirs, phone="+821033332222")
    await make_order(session, me)
    await make_order(session, other)
    assert await _found(session, _desk(mine.district_id), "2222") == {me.id}
    admin = Access(operator_id=None, username="admin", ip=None, district_id=None, role="admin")
    assert await _found(session, admin, "2222") == {me.id, other.id}


async def test_forgetting_a_person_blanks_the_last_4_with_the_phone(session: AsyncSession) -> None:
    place = await make_district(session)
    person = await make_resident(session, place, phone="+821055556666")
    assert person.id is not None
    await personal_data.forget(session, resident_id=person.id)
    row = (
        await session.execute(
            select(col(Resident.phone), col(Resident.phone_last4)).where(col(Resident.id) == person.id)
        )
    ).one()
    assert tuple(row) == (None, None)
