"""Finding a resident by name and phone, as the bot, phone intake and referrals do."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from care import residents
from tests.factories import make_district, make_resident


async def test_the_same_person_recorded_twice_is_still_found_and_no_third_is_made(session: AsyncSession) -> None:
    place = await make_district(session)
    # Two intakes at the same moment can leave two rows for one person (nothing makes them unique).
    first = await make_resident(session, place, name="김영희", phone="+821055556666")
    await make_resident(session, place, name="김영희", phone="+821055556666")
    found = await residents.get_by_name_and_phone(
        session, district_id=place.district_id, name="김영희", phone="+821055556666"
    )
    assert found is not None and found.id == first.id
    again, created = await residents.find_or_create(
        session, district_id=place.district_id, name="김영희", phone="010-5555-6666"
    )
    assert (again.id, created) == (first.id, False)


async def test_a_purged_resident_is_not_found(session: AsyncSession) -> None:
    from dolbom import clock

    place = await make_district(session)
    await make_resident(session, place, name="박철수", phone="+821077778888", purged_at=clock.now())
    assert (
        await residents.get_by_name_and_phone(
            session, district_id=place.district_id, name="박철수", phone="+821077778888"
        )
        is None
    )
