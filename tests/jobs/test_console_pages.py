"""The console's check-ins board, notices and dead letters."""

from __future__ import annotations

from datetime import timedelta

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
