"""The resident picks when the check-ins come, with buttons: the morning, also the evening, or the night check."""

from __future__ import annotations

from sqlalchemy import select

from storage.db import Database
from storage.models import CheckinSchedule
from tests.bot.flow_steps import full_request
from tests.bot.harness import Person


async def test_a_resident_adds_the_night_safety_check_with_two_taps_and_keeps_the_days(
    db: Database, person: Person
) -> None:
    p = person
    await p.say("/start")
    await p.press("안부 확인 시간 바꾸기")
    assert "먼저 '안부 확인 받기'를 눌러 주세요" in p.last.text
    await full_request(p, "checkin")
    await p.say("/start")
    await p.press("안부 확인 받기")
    await p.press("월·수·금")
    await p.press("10시")

    await p.say("/start")
    await p.press("안부 확인 시간 바꾸기")
    assert "지금은 월·수·금 오전 10시에 안부를 여쭤요" in p.last.text
    await p.press("아침과 밤 안전 확인 (오전 10시, 밤 9시)")

    assert "월·수·금 오전 10시, 밤 9시에 안부를 여쭐게요" in p.last_texts(2)
    async with db.sessions() as s:
        schedule = (await s.execute(select(CheckinSchedule))).scalar_one()
        assert (schedule.weekdays, schedule.at_minute, schedule.second_minute) == ([0, 2, 4], 600, 21 * 60)


async def test_typing_instead_of_pressing_a_time_asks_again_kindly(db: Database, person: Person) -> None:
    p = person
    await full_request(p, "checkin")
    await p.say("/start")
    await p.press("안부 확인 받기")
    await p.press("매일")
    await p.press("9시")
    await p.say("/start")
    await p.press("안부 확인 시간 바꾸기")
    await p.say("저녁에 해 주세요")
    assert "아래 버튼 중에서 골라 주세요" in p.last_texts(2)
    await p.press("아침과 저녁 (오전 10시, 오후 7시)")
    assert "매일 오전 10시, 오후 7시에 안부를 여쭐게요" in p.last_texts(2)
