"""The console's check-ins board, notices and dead letters."""

from __future__ import annotations

from datetime import timedelta

from markupsafe import escape
from sqlalchemy import select

from care import checkins
from dolbom import clock
from storage import outbox
from storage.models import AccessLog, DeskNotice, Outbox
from tests.console.conftest import app, client, signed_in, world  # noqa: F401 - fixtures
from tests.jobs.helpers import add_family, resident_with_chat, seoul


async def test_board_lists_missed_first_with_the_phone_to_call(db, world, client):  # noqa: F811
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        fine = await resident_with_chat(s, world.mapo, "100", name="김잘지", phone="+821011112222")
        missing = await resident_with_chat(s, world.mapo, "200", name="이무응", phone="+821033334444")
        await add_family(s, missing, "201", phone="+821055556666")
        for r in (fine, missing):
            await checkins.set_schedule(s, resident_id=r.id, weekdays=[0], at_minute=600)
        await checkins.dispatch_due(s)
    async with db.transaction() as s:
        slot_id = next(r.slot.id for r in await checkins.list_today(s) if r.resident_id == fine.id)
        await checkins.answer(s, slot_id=slot_id, answer="ok", channel="telegram", user_key="100")
    clock.advance(timedelta(hours=2))
    async with db.transaction() as s:
        await checkins.escalate_due(s)

    await signed_in(client, "mapo")
    page = await client.get("/checkins")
    assert page.status_code == 200
    html = page.text
    assert html.index("이무응") < html.index("김잘지")  # the missed one first
    assert "010-3333-4444" in html and "010-5555-6666" in html
    assert 'data-count="escalated">1<' in html and 'data-count="answered">1<' in html
    async with db.sessions() as s:
        actions = [a.action for a in (await s.execute(select(AccessLog))).scalars()]
    assert "view_checkin_board" in actions


async def test_board_shows_only_the_operators_district(db, world, client):  # noqa: F811
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        other = await resident_with_chat(s, world.other, "300", name="은평주민")
        await checkins.set_schedule(s, resident_id=other.id, weekdays=[0], at_minute=600)
        await checkins.dispatch_due(s)
    await signed_in(client, "mapo")
    assert "은평주민" not in (await client.get("/checkins")).text


async def test_dead_letters_are_shown_to_admins_and_can_be_sent_again(db, world, client):  # noqa: F811
    async with db.transaction() as s:
        row = await outbox.enqueue(
            s, district_id=world.mapo.district_id, channel="telegram", chat_id="100", text="실패한 메시지"
        )
        await outbox.mark_dead(s, row_id=row.id, error="502 Bad Gateway")
    token = await signed_in(client, "admin")
    page = await client.get("/checkins/outbox")
    assert "실패한 메시지" in page.text and "502 Bad Gateway" in page.text
    r = await client.post(f"/checkins/outbox/{row.id}/requeue", data={"csrf_token": token})
    assert r.status_code == 303
    async with db.sessions() as s:
        assert (await s.get(Outbox, row.id)).status == "pending"


async def test_dead_letters_are_not_for_operators_of_one_district(world, client):  # noqa: F811
    await signed_in(client, "mapo")
    assert (await client.get("/checkins/outbox")).status_code == 403


async def test_notices_page_lists_the_districts_notices(db, world, client):  # noqa: F811
    async with db.transaction() as s:
        s.add(
            DeskNotice(
                district_id=world.mapo.district_id,
                kind="digest",
                title="일일 요약 2026-11-22",
                body="어제 새 신청: 3건",
            )
        )
        s.add(DeskNotice(district_id=world.other.district_id, kind="digest", title="은평 요약", body=""))
    token = await signed_in(client, "mapo")
    page = await client.get("/notices")
    assert "일일 요약 2026-11-22" in page.text and "은평 요약" not in page.text
    async with db.sessions() as s:
        notice_id = (await s.execute(select(DeskNotice.id).where(DeskNotice.title == "은평 요약"))).scalar_one()
    await client.post(f"/notices/{notice_id}/read", data={"csrf_token": token})
    async with db.sessions() as s:
        assert (await s.get(DeskNotice, notice_id)).read_at is None  # not theirs to mark


async def test_the_desk_sets_a_schedule_with_a_pause(db, world, client):  # noqa: F811
    token = await signed_in(client, "mapo")
    rid = world.resident.id
    page = await client.get(f"/checkins/schedule/{rid}")
    assert page.status_code == 200 and world.resident.name in page.text
    r = await client.post(
        f"/checkins/schedule/{rid}",
        data={
            "csrf_token": token,
            "weekdays": ["0", "2", "4"],
            "time": "09:30",
            "paused_until": "2026-12-01",
            "alert_family": "yes",
        },
    )
    assert r.status_code == 303
    async with db.sessions() as s:
        schedule = await checkins.get_schedule(s, resident_id=rid)
    assert schedule.weekdays == [0, 2, 4] and schedule.at_minute == 570
    assert schedule.paused_until.isoformat() == "2026-12-01"
    assert schedule.alert_family and not schedule.alert_care_manager
    # Another district's operator cannot see or change it.
    await client.post("/logout", data={"csrf_token": token})
    token = await signed_in(client, "eunpyeong")
    assert (await client.get(f"/checkins/schedule/{rid}")).status_code == 404
    r = await client.post(f"/checkins/schedule/{rid}", data={"csrf_token": token, "weekdays": ["1"], "time": "08:00"})
    assert r.status_code == 404


async def test_a_schedule_without_days_is_refused(db, world, client):  # noqa: F811
    token = await signed_in(client, "mapo")
    r = await client.post(f"/checkins/schedule/{world.resident.id}", data={"csrf_token": token, "time": "09:30"})
    assert r.status_code == 400


async def _missed(db, world, key: str, name: str):  # noqa: F811
    clock.set_now(seoul(2026, 11, 23, 10, 0))
    async with db.transaction() as s:
        r = await resident_with_chat(s, world.mapo, key, name=name, phone="+821077778888")
        await add_family(s, r, f"{key}9")
        await checkins.set_schedule(s, resident_id=r.id, weekdays=[0, 2, 4], at_minute=600)
        await checkins.dispatch_due(s)
    clock.advance(timedelta(hours=2))
    async with db.transaction() as s:
        await checkins.escalate_due(s)
        return r, (await checkins.list_today(s))[0].slot.id


async def test_a_follow_up_is_recorded_once_and_a_second_operator_is_told_who_did_it(db, world, client):  # noqa: F811
    resident, slot_id = await _missed(db, world, "400", "최무응")
    token = await signed_in(client, "mapo")
    r = await client.post(
        f"/checkins/{slot_id}/followup", data={"csrf_token": token, "outcome": "visit", "note": "문 앞까지 방문 요청"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/checkins?done=followup")
    board = (await client.get("/checkins")).text
    assert (
        "mapo 담당" in board
        and "문 앞까지 방문 요청" in board
        and f'action="/checkins/{slot_id}/followup"' not in board
    )

    token = await signed_in(client, "admin")
    r = await client.post(f"/checkins/{slot_id}/followup", data={"csrf_token": token, "outcome": "called_ok"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/checkins?taken={slot_id}")
    page = await client.get(r.headers["location"])
    assert page.status_code == 200
    taken = page.text[page.text.index('id="taken"') :]
    assert "mapo 담당" in taken[: taken.index("</p>")]
    async with db.sessions() as s:
        kinds = [o.kind for o in (await s.execute(select(Outbox).where(Outbox.chat_id == "4009"))).scalars()]
        rows = (await s.execute(select(AccessLog).where(AccessLog.action == "checkin_followup"))).scalars().all()
    assert kinds == ["checkin_alert"]  # a visit was asked: nobody is told all is well
    assert [(a.username, a.resident_id) for a in rows] == [("mapo", resident.id)]


async def test_viewers_see_the_board_without_follow_up_buttons_and_cannot_post_one(db, world, client):  # noqa: F811
    _, slot_id = await _missed(db, world, "410", "윤무응")
    token = await signed_in(client, "viewer")
    assert f'action="/checkins/{slot_id}/followup"' not in (await client.get("/checkins")).text
    r = await client.post(f"/checkins/{slot_id}/followup", data={"csrf_token": token, "outcome": "called_ok"})
    assert r.status_code == 403


async def test_a_bad_outcome_gets_a_kind_answer_not_a_server_error(db, world, client):  # noqa: F811
    _, slot_id = await _missed(db, world, "420", "한무응")
    token = await signed_in(client, "mapo")
    r = await client.post(f"/checkins/{slot_id}/followup", data={"csrf_token": token, "outcome": "<script>"})
    assert r.status_code in (400, 422) and "Traceback" not in r.text


async def test_the_attention_page_lists_two_missed_in_a_row_and_the_resident_page_says_the_schedule(
    db,
    world,  # noqa: F811
    client,  # noqa: F811
):
    resident, _ = await _missed(db, world, "430", "강무응")
    clock.set_now(seoul(2026, 11, 25, 10, 0))  # Wednesday: asked again, no answer again
    async with db.transaction() as s:
        await checkins.dispatch_due(s)
    clock.advance(timedelta(hours=2))
    async with db.transaction() as s:
        await checkins.escalate_due(s)
    await signed_in(client, "mapo")
    page = (await client.get("/checkins/attention")).text
    missed = page[page.index('id="missed-list"') : page.index('id="unreachable-list"')]
    assert "강무응" in missed and 'data-streak="2"' in missed
    detail = (await client.get(f"/residents/{resident.id}")).text
    words = detail[detail.index('id="schedule-words"') :]
    async with db.sessions() as s:
        schedule = await checkins.get_schedule(s, resident_id=resident.id)
    assert str(escape(checkins.describe(schedule))) in words and f'href="/checkins/schedule/{resident.id}"' in words
    assert "월·수·금" in words
