"""The bot's summary shows the expected public and resident amounts before the person confirms."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements
from storage.db import Database
from tests.bot.flow_steps import up_to_consent
from tests.bot.harness import Person
from tests.factories import make_district


async def test_the_summary_shows_the_expected_public_and_own_amounts_before_sending(
    db: Database, person: Person
) -> None:
    await up_to_consent(person, "meals")  # 81 years old, hard to manage alone, 기초생활수급, 10 meals
    await person.press("동의합니다")
    await person.press("동의합니다")
    summary = person.last.text
    # 10 meals × 7,200 = 72,000, all public support as the person answered (the desk still decides).
    expected = entitlements.Estimate(total=72_000, public=72_000, resident=0, certain=False)
    assert entitlements.estimate_text(expected, "ko") in summary
    assert "신청하기" in person.buttons()


async def test_the_estimate_follows_the_answers_and_the_cap(session: AsyncSession) -> None:
    place = await make_district(session)
    common = {"district_id": place.district_id, "service_code": "meals", "year": 2026}
    basic = await entitlements.estimate(session, **common, units=40, income_tier="basic", looks_eligible=True)
    # 40 meals = 288,000; the cap is 30 meals = 216,000 public, 10 meals = 72,000 the person's.
    assert (basic.total, basic.public, basic.resident, basic.certain) == (288_000, 216_000, 72_000, False)
    general = await entitlements.estimate(session, **common, units=10, income_tier="general", looks_eligible=True)
    assert (general.public, general.resident, general.certain) == (0, 72_000, True)
    unsure = await entitlements.estimate(session, **common, units=10, income_tier="unknown", looks_eligible=True)
    assert (unsure.public, unsure.resident, unsure.certain) == (0, 72_000, False)
    free = await entitlements.estimate(session, **{**common, "service_code": "info"}, units=1, income_tier="basic",
                                       looks_eligible=False)  # fmt: skip
    assert entitlements.estimate_text(free) != "" and free.total == 0
