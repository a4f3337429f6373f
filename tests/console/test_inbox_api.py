"""The inbox in the JSON API: list, read, reply, note, assign, take over, snooze, resolve; 409 when stale."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from care import auth, intake
from dolbom import clock
from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, DeskThread, Operator, OperatorSession, Outbox
from tests.factories import make_district, make_resident


@pytest.fixture
async def api(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], int, int]]:
    token, csrf = auth.new_token(), auth.new_token()
    async with db.transaction() as s:
        place = await make_district(s)
        resident = await make_resident(s, place, name="박순자")
        op = Operator(username="kim", password_hash="x", role="operator", district_id=place.district.id)
        lee = Operator(username="lee", password_hash="x", role="operator", district_id=place.district.id)
        s.add_all([op, lee])
        await s.flush()
        thread = await intake.post_to_desk(
            s, channel="telegram", user_key="100", text="전화 부탁드려요", district_id=place.district.id
        )
        thread.resident_id = resident.id
        now = clock.now()
        s.add(
            OperatorSession(
                id=auth.token_id(token), operator_id=op.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )
        )  # type: ignore[arg-type]
    app = build_web_app(database=db, settings=Settings(session_idle_minutes=30))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        c.cookies.set("dolbom_session", token)
        yield c, {"X-CSRF-Token": csrf}, thread.id, lee.id  # type: ignore[misc]


async def test_the_api_lists_reads_and_acts_on_a_conversation(
    db: Database, api: tuple[httpx.AsyncClient, dict[str, str], int, int]
) -> None:
    c, h, thread_id, lee_id = api
    listed = (await c.get("/api/inbox")).json()
    assert listed["unread"] == 1 and [t["id"] for t in listed["threads"]] == [thread_id]
    assert listed["threads"][0]["resident_name"] == "박순자" and listed["threads"][0]["reason"] == "talk"
    assert (await c.get("/api/inbox?status=resolved")).json()["threads"] == []
    assert (await c.get("/api/inbox?status=nonsense")).status_code == 400  # a kind 400 like every bad query

    read = (await c.get(f"/api/inbox/{thread_id}")).json()
    assert read["can_reply"] and [m["text"] for m in read["messages"]] == ["전화 부탁드려요"]
    version = read["thread"]["version"]

    replied = await c.post(f"/api/inbox/{thread_id}/reply", json={"text": "오후에 전화 드릴게요"}, headers=h)
    assert replied.status_code == 200 and replied.json()["thread"]["first_reply_at"] is not None
    noted = await c.post(f"/api/inbox/{thread_id}/note", json={"text": "보호자 번호 확인"}, headers=h)
    assert [m["direction"] for m in noted.json()["messages"]] == ["in", "out", "note"]
    version = noted.json()["thread"]["version"]

    stale = await c.post(
        f"/api/inbox/{thread_id}/assign", json={"operator_id": lee_id, "version": version - 1}, headers=h
    )
    assert stale.status_code == 409
    moved = await c.post(f"/api/inbox/{thread_id}/assign", json={"operator_id": lee_id, "version": version}, headers=h)
    assert moved.status_code == 200 and moved.json()["thread"]["assignee"] == "lee"
    # Now lee answers; kim must take it over with a note first.
    refused = await c.post(f"/api/inbox/{thread_id}/reply", json={"text": "제가 할게요"}, headers=h)
    assert refused.status_code == 403
    version = moved.json()["thread"]["version"]
    took = await c.post(f"/api/inbox/{thread_id}/take", json={"text": "급한 건", "version": version}, headers=h)
    assert took.status_code == 200 and took.json()["can_reply"]

    snoozed = await c.post(
        f"/api/inbox/{thread_id}/snooze",
        json={"snooze": "tomorrow", "version": took.json()["thread"]["version"]},
        headers=h,
    )
    assert snoozed.json()["thread"]["status"] == "snoozed"
    resolved = await c.post(
        f"/api/inbox/{thread_id}/resolve", json={"version": snoozed.json()["thread"]["version"]}, headers=h
    )
    assert resolved.json()["thread"]["status"] == "resolved"
    assert (await c.post(f"/api/inbox/{thread_id}/fly", json={}, headers=h)).status_code == 404
    assert (await c.post(f"/api/inbox/{thread_id}/reply", json={"text": "x"})).status_code == 403  # no CSRF header

    async with db.sessions() as s:
        kinds = [r.kind for r in (await s.execute(select(Outbox).order_by(Outbox.id))).scalars()]
        actions = [r.action for r in (await s.execute(select(AccessLog).order_by(AccessLog.id))).scalars()]
        thread = await s.get(DeskThread, thread_id)
    assert kinds == ["desk_reply", "desk_rating"]
    for action in (
        "inbox_view",
        "inbox_thread_view",
        "inbox_reply",
        "inbox_note",
        "inbox_assign",
        "inbox_take_over",
        "inbox_status",
    ):
        assert action in actions, action
    assert thread is not None and thread.assignee_id is not None and thread.resolved_at is not None
