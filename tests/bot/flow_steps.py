"""Walk a person through the request flow the way a resident would."""

from __future__ import annotations

from tests.bot.harness import Person

SERVICE_BUTTON = {
    "meals": "식사 배달",
    "escort": "병원 동행·외출",
    "home_care": "집으로 오는 돌봄",
    "housing": "집 고치기",
    "short_stay": "잠시 시설에 머물기",
    "checkin": "안부 확인",
    "health": "건강 돌봄",
    "info": "정보·상담",
}


async def service_questions(p: Person, service: str) -> None:
    if service == "meals":
        await p.press("10식")
    elif service == "escort":
        await p.say("연세병원 정형외과")
        await p.press("2시간")
    elif service == "home_care":
        await p.press("6시간")
    elif service == "housing":
        await p.say("부엌 전등이 나갔어요")
    elif service == "short_stay":
        await p.press("7일")
    else:
        await p.say("혼자 지내셔서 걱정돼요")


async def up_to_consent(p: Person, service: str = "meals", *, name: str = "김영희") -> None:
    await p.say("/start")
    await p.press("서비스 신청")
    await p.press(SERVICE_BUTTON[service])
    await p.press("본인")
    await p.say(name)
    await p.share_contact("821012345678")
    await p.press(next(iter(p.buttons())))  # the first dong
    await p.say("망원로 12, 3층")
    await p.say("1942년생")
    await p.press("아니요")  # disability
    await p.press("네")  # hard to manage alone
    await p.press("네")  # no public service
    await p.press("아니요")  # family can help
    await p.press("기초생활수급")
    await service_questions(p, service)
    await p.say("다음 주 화요일")
    await p.press("네")  # the date echoed back is right
    await p.say("계단이 많아요")


async def full_request(p: Person, service: str = "meals", *, name: str = "김영희") -> None:
    await up_to_consent(p, service, name=name)
    await p.press("동의합니다")
    await p.press("동의합니다")
    await p.press("신청하기")
