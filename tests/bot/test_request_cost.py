"""The bot's summary shows the expected public and resident amounts before the person confirms."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from care import entitlements
from dolbom.i18n import gettext
from storage.db import Database
from storage.models import Outbox
from tests.bot.flow_steps import SERVICE_BUTTON, full_request, up_to_consent
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


async def _receipt(db: Database) -> str:
    async with db.sessions() as s:
        return (await s.execute(select(Outbox).where(Outbox.kind == "receipt"))).scalar_one().text


async def test_the_receipt_repeats_the_expected_amounts_and_says_the_desk_decides(db: Database, person: Person) -> None:
    await full_request(person, "meals")  # 81, hard to manage alone, 기초생활수급, 10 meals
    receipt = await _receipt(db)
    # 10 meals × 7,200 = 72,000: all public support as answered, 0원 the person's.
    assert "예상 비용 72,000원: 공공 지원 72,000원, 본인 부담 0원" in receipt
    assert entitlements.estimate_text(entitlements.Estimate(72_000, 72_000, 0, certain=False), "ko") in receipt


async def test_a_general_income_request_shows_the_person_pays_all_in_summary_and_receipt(
    db: Database, person: Person
) -> None:
    await person.say("/start")
    await person.press("서비스 신청")
    await person.press(SERVICE_BUTTON["meals"])
    await person.press("본인")
    await person.say("김영희")
    await person.share_contact("821012345678")
    await person.press(next(iter(person.buttons())))
    await person.say("망원로 12, 3층")
    await person.say("1942년생")
    for answer in ("아니요", "네", "네", "아니요"):
        await person.press(answer)
    await person.press(gettext("General", "ko"))
    await person.press("10식")
    await person.say("다음 주 화요일")
    await person.press("네")
    await person.say("계단이 많아요")
    await person.press("동의합니다")
    await person.press("동의합니다")
    assert "공공 지원 0원, 본인 부담 72,000원" in person.last.text
    await person.press("신청하기")
    assert "공공 지원 0원, 본인 부담 72,000원" in await _receipt(db)
