"""민원·사고 and 만족도 through the console: recorded from a conversation, an order or the phone; two operators
closing at once; another district refused; the open count in the menu's poll; the phone survey and its XLSX."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import func, select

from care import inbox, orders
from dolbom import clock
from storage.db import Database
from storage.models import AccessLog, Complaint, DeskThread, Survey
from tests.console.conftest import World, signed_in
from tests.factories import DESK


@pytest.fixture
async def second(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser: another operator's session."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


async def _thread(db: Database, world: World) -> int:
    async with db.transaction() as s:
        thread = DeskThread(
            channel="telegram", user_key="555", resident_id=world.resident.id, district_id=world.mapo.district_id
        )
        s.add(thread)
        await s.flush()
        await inbox.record_incoming(s, thread=thread, text="배달하시는 분이 너무 퉁명스러워요")
        assert thread.id is not None
        return thread.id


async def _assigned(db: Database, world: World) -> None:
    async with db.transaction() as s:
        await orders.screen(s, order_id=world.order.id, actor=DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=world.order.id, provider_id=world.lead.id, actor=DESK)  # type: ignore[arg-type]


def _id(location: str) -> int:
    found = re.fullmatch(r"/complaints/(\d+)\?done=created", location)
    assert found, location
    return int(found.group(1))


async def test_from_an_inbox_conversation_the_resident_and_thread_are_filled_in(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    thread_id = await _thread(db, world)
    token = await signed_in(client, "mapo")
    page = await client.get(f"/inbox/{thread_id}")
    assert f'href="/complaints/new?thread={thread_id}"' in page.text and "민원·사고 기록" in page.text
    form = await client.get(f"/complaints/new?thread={thread_id}")
    assert form.status_code == 200
    assert "박순자" in form.text and f'name="thread_id" value="{thread_id}"' in form.text
    assert "상담함 대화에서 기록해요." in form.text
    r = await client.post(
        "/complaints",
        data={
            "csrf_token": token,
            "thread_id": str(thread_id),
            "resident_id": str(world.resident.id),
            "category": "unkind",
            "what_happened": "배달원이 퉁명스러웠다고 하심",
            "steps_taken": "제공기관 담당자에게 알림",
            "decided_by": "김 팀장",
        },
    )
    assert r.status_code == 303
    detail = await client.get(r.headers["location"])
    assert detail.status_code == 200
    for text in (
        "제공기관 불친절",
        "상담함 대화",
        "박순자",
        "제공기관 담당자에게 알림",
        "김 팀장",
        "처리 중",
        "민원을 기록했어요.",
    ):
        assert text in detail.text, text
    async with db.sessions() as s:
        c = await s.get(Complaint, _id(r.headers["location"]))
        assert c is not None and (c.thread_id, c.resident_id, c.source) == (thread_id, world.resident.id, "inbox")
        assert c.created_by_name == "mapo 담당"


async def test_from_an_order_page_the_resident_order_and_provider_are_filled_in(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _assigned(db, world)
    token = await signed_in(client, "mapo")
    page = await client.get(f"/orders/{world.order.id}")
    assert f'href="/complaints/new?order={world.order.id}"' in page.text
    form = await client.get(f"/complaints/new?order={world.order.id}")
    assert re.search(rf'<option value="{world.lead.id}" selected>마포돌봄협동조합</option>', form.text), form.text
    assert world.order.receipt_no in form.text
    r = await client.post(
        "/complaints",
        data={
            "csrf_token": token,
            "order_id": str(world.order.id),
            "resident_id": str(world.resident.id),
            "provider_id": str(world.lead.id),
            "category": "accident",
            "what_happened": "배달 중 현관 화분이 깨졌어요",
        },
    )
    assert r.status_code == 303
    # The order page lists it.
    order_page = await client.get(f"/orders/{world.order.id}")
    assert 'id="order-complaints"' in order_page.text and "사고" in order_page.text
    async with db.sessions() as s:
        c = await s.get(Complaint, _id(r.headers["location"]))
        assert c is not None
        assert (c.order_id, c.resident_id, c.provider_id, c.source) == (
            world.order.id,
            world.resident.id,
            world.lead.id,
            "order",
        )


async def test_by_phone_with_a_resident_search_or_with_nobody(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    found = await client.post("/complaints/new/search", data={"csrf_token": token, "q": "박순"})
    assert found.status_code == 200 and f'href="/complaints/new?resident={world.resident.id}"' in found.text
    assert "김말순" not in (await client.post("/complaints/new/search", data={"csrf_token": token, "q": "말순"})).text
    r = await client.post(
        "/complaints",
        data={"csrf_token": token, "category": "other", "what_happened": "이름을 밝히지 않은 분의 전화"},
    )
    assert r.status_code == 303
    # What happened left empty: the form again, a kind message, what was chosen kept.
    empty = await client.post("/complaints", data={"csrf_token": token, "category": "service", "what_happened": ""})
    assert empty.status_code == 400 and "무슨 일이 있었는지 적어 주세요." in empty.text
    listing = await client.get("/complaints")
    assert "처리 중 1건" in listing.text and "이름을 밝히지 않은 분의 전화" in listing.text
    download = await client.post("/complaints/export", data={"csrf_token": token, "reason": "월간 보고"})
    assert download.status_code == 200
    rows = list(load_workbook(io.BytesIO(download.content)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][:4] == ("접수", "상태", "종류", "접수 경로")
    assert rows[1][1:4] == ("처리 중", "기타", "전화") and rows[1][7] == "이름을 밝히지 않은 분의 전화"
    assert (await client.post("/complaints/export", data={"csrf_token": token, "reason": ""})).status_code == 400


async def test_two_operators_closing_at_once_one_wins_the_other_is_told(
    client: httpx.AsyncClient, second: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/complaints",
        data={
            "csrf_token": token,
            "resident_id": str(world.resident.id),
            "category": "conflict",
            "what_happened": "이용자와 제공인력이 다퉜어요",
        },
    )
    path = r.headers["location"].split("?")[0]
    other_token = await signed_in(second, "admin")
    # Both have the page open with the closing form.
    assert 'action="' + path + '/close"' in (await client.get(path)).text
    assert 'action="' + path + '/close"' in (await second.get(path)).text
    no_outcome = await client.post(path + "/close", data={"csrf_token": token, "outcome": " "})
    assert no_outcome.status_code == 400 and "처리 결과를 적어 주세요." in no_outcome.text
    first = await client.post(path + "/close", data={"csrf_token": token, "outcome": "제공인력을 바꿔 드림"})
    assert first.status_code == 303
    late = await second.post(path + "/close", data={"csrf_token": other_token, "outcome": "사과로 마무리"})
    assert late.status_code == 409
    assert "다른 분이 방금 이 민원을 종결했어요" in late.text and "제공인력을 바꿔 드림" in late.text
    async with db.sessions() as s:
        c = await s.get(Complaint, int(path.rsplit("/", 1)[1]))
        assert c is not None and (c.status, c.outcome, c.closed_by_name) == (
            "closed",
            "제공인력을 바꿔 드림",
            "mapo 담당",
        )
    step = await second.post(path + "/step", data={"csrf_token": other_token, "text": "늦은 메모"})
    assert step.status_code == 409 and "종결된 민원이에요." in step.text


async def test_another_districts_operator_gets_404_and_sees_nothing(
    client: httpx.AsyncClient, second: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/complaints",
        data={
            "csrf_token": token,
            "resident_id": str(world.resident.id),
            "category": "service",
            "what_happened": "불만",
        },
    )
    path = r.headers["location"].split("?")[0]
    theirs = await signed_in(second, "eunpyeong")
    assert (await second.get(path)).status_code == 404
    assert (await second.post(path + "/step", data={"csrf_token": theirs, "text": "x"})).status_code == 404
    assert (await second.post(path + "/close", data={"csrf_token": theirs, "outcome": "x"})).status_code == 404
    assert "박순자" not in (await second.get("/complaints")).text
    assert (await second.get(f"/complaints/new?order={world.order.id}")).status_code == 404
    # Their own form with Mapo's resident, order or provider typed in: refused, nothing recorded.
    for forged in ({"resident_id": world.resident.id}, {"order_id": world.order.id}, {"provider_id": world.lead.id}):
        data = {"csrf_token": theirs, "category": "service", "what_happened": "x"} | {
            k: str(v) for k, v in forged.items()
        }
        assert (await second.post("/complaints", data=data)).status_code == 404, forged
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Complaint))).scalar_one() == 1
        denied = (await s.execute(select(func.count()).where(AccessLog.action == "denied_other_district"))).scalar_one()
        assert denied >= 6
    # The poll behind the menu badges counts the open ones of each district only.
    assert (await client.get("/inbox/poll")).json()["complaints_open"] == 1
    assert (await second.get("/inbox/poll")).json()["complaints_open"] == 0
    menu = await client.get("/")
    assert 'href="/complaints"' in menu.text and "민원·사고" in menu.text


async def test_the_phone_survey_from_the_list_to_the_figures_and_the_workbook(
    client: httpx.AsyncClient, second: httpx.AsyncClient, db: Database, world: World
) -> None:
    clock.set_now(datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    await _assigned(db, world)
    async with db.transaction() as s:
        await orders.accept(s, order_id=world.order.id, provider_id=world.lead.id, actor=DESK)  # type: ignore[arg-type]
        await orders.start(s, order_id=world.order.id, actor=DESK)  # type: ignore[arg-type]
        await orders.complete(s, order_id=world.order.id, delivered_units=10, actor=DESK)  # type: ignore[arg-type]
        survey = Survey(order_id=world.order.id)  # type: ignore[arg-type]
        s.add(survey)
        await s.flush()
        survey_id = survey.id
    clock.set_now(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    token = await signed_in(client, "mapo")
    page = await client.get("/satisfaction")
    assert page.status_code == 200
    assert "전화 조사 대상" in page.text and "박순자" in page.text and "010-1234-5678" in page.text
    assert f'action="/satisfaction/{survey_id}/phone"' in page.text
    assert (await second.get("/satisfaction")).status_code == 303  # signed out
    theirs = await signed_in(second, "eunpyeong")
    assert "박순자" not in (await second.get("/satisfaction")).text
    forged = await second.post(f"/satisfaction/{survey_id}/phone", data={"csrf_token": theirs, "score": "1"})
    assert forged.status_code == 404
    bad = await client.post(f"/satisfaction/{survey_id}/phone", data={"csrf_token": token, "score": "7"})
    assert bad.status_code == 400
    r = await client.post(
        f"/satisfaction/{survey_id}/phone", data={"csrf_token": token, "score": "4", "comment": "늦었지만 맛있었어요"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/satisfaction?done=phone#to-call"
    again = await client.post(f"/satisfaction/{survey_id}/phone", data={"csrf_token": token, "score": "1"})
    shown = await client.get(again.headers["location"])
    assert "다른 분이 이미 이분의 응답을 적었어요." in shown.text
    after = await client.get("/satisfaction")
    assert "전화할 분이 없어요." in after.text and "늦었지만 맛있었어요" in after.text
    assert '4.00 <span class="muted">(1)</span>' in after.text
    download = await client.post(
        "/satisfaction/export", data={"csrf_token": token, "from": "2026-06", "to": "2026-11", "reason": "월간 보고"}
    )
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="satisfaction-2026-06-2026-11')
    book = load_workbook(io.BytesIO(download.content))
    assert book.sheetnames == ["제공기관별", "서비스별", "응답과 의견", "전화 조사 대상"]
    providers = list(book["제공기관별"].iter_rows(values_only=True))
    assert providers[0][:5] == ("제공기관", "응답 수", "평균 점수 (1~5)", "전화", "의견 수")
    assert providers[1][:5] == ("마포돌봄협동조합", 1, 4, 1, 1)
    assert providers[1][-2:] == (1, 4)  # November: one answer, 4
    answers = list(book["응답과 의견"].iter_rows(values_only=True))
    assert answers[1][3:6] == (4, "늦었지만 맛있었어요", "전화")
    assert len(list(book["전화 조사 대상"].iter_rows(values_only=True))) == 1  # the header only
    async with db.sessions() as s:
        row = (await s.execute(select(AccessLog).where(AccessLog.action == "satisfaction_export"))).scalar_one()
        assert row.reason == "월간 보고"
    no_reason = await client.post("/satisfaction/export", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 400
