"""The 모니터링 pages and a new provider's registration, as the desk uses them."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from care import registration
from dolbom import clock
from storage.db import Database
from storage.models import Assignment, ChannelBinding, Inspection, MonitoringItem, Operator, Outbox, Provider
from tests import factories
from tests.console.conftest import World, _password_hash, signed_in


async def _district_admin(db: Database, world: World) -> None:
    async with db.transaction() as s:
        s.add(
            Operator(
                username="mapo-admin",
                password_hash=_password_hash(),
                role="admin",
                district_id=world.mapo.district_id,
                display_name="마포 관리자",
            )
        )


async def test_the_desk_plans_records_follows_up_and_shares_a_monitoring_visit(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _district_admin(db, world)
    token = await signed_in(client, "mapo-admin")
    for text in ("사업 지침 준수", "본인부담금 수납 기록"):
        added = await client.post(
            "/monitoring/checklist",
            data={"csrf_token": token, "district_id": str(world.other.district_id), "text": text},
        )
        assert added.status_code == 303
    async with db.sessions() as s:
        items = (await s.execute(select(MonitoringItem).order_by(MonitoringItem.id))).scalars().all()
        # The form named another district: the district's admin still added to their own checklist.
        assert {i.district_id for i in items} == {world.mapo.district_id}
        s.add(ChannelBinding(channel="telegram", user_key="staff-9", role="provider_staff", provider_id=world.lead.id))
        await s.commit()

    token = await signed_in(client, "mapo")
    planned = await client.post(
        "/monitoring",
        data={
            "csrf_token": token,
            "provider_id": str(world.lead.id),
            "kind": "adhoc",
            "planned_on": clock.today().isoformat(),
        },
    )
    assert planned.status_code == 422 and 'class="alert"' in planned.text
    planned = await client.post(
        "/monitoring",
        data={
            "csrf_token": token,
            "provider_id": str(world.lead.id),
            "kind": "adhoc",
            "planned_on": clock.today().isoformat(),
            "reason": "부정결제 신고 접수",
        },
    )
    assert planned.status_code == 303
    page_url = planned.headers["location"].split("?")[0]
    page = await client.get(page_url)
    assert page.status_code == 200 and "사업 지침 준수" in page.text and "부정결제 신고 접수" in page.text
    first, second = items
    recorded = await client.post(
        f"{page_url}/results",
        data={
            "csrf_token": token,
            f"verdict_{first.id}": "pass",
            f"verdict_{second.id}": "fail",
            f"note_{second.id}": "수납 기록 3건 없음",
            "done_on": clock.today().isoformat(),
            "summary": "다음 달에 다시 확인해요.",
        },
    )
    assert recorded.status_code == 303
    followup = await client.post(
        f"{page_url}/followups",
        data={"csrf_token": token, "text": "수납 기록 보완", "due_on": (clock.today() - timedelta(days=2)).isoformat()},
    )
    assert followup.status_code == 303
    listing = await client.get("/monitoring")
    overdue = listing.text.split('data-testid="overdue"')[1].split("</table>")[0]
    assert "수납 기록 보완" in overdue and world.lead.name in overdue
    per_provider = await client.get(f"/monitoring?provider={world.lead.id}")
    assert per_provider.status_code == 200 and page_url in per_provider.text
    shared = await client.post(f"{page_url}/share", data={"csrf_token": token})
    assert shared.status_code == 303
    async with db.sessions() as s:
        sent = (await s.execute(select(Outbox).where(Outbox.kind == "monitoring_result"))).scalars().all()
        assert [r.chat_id for r in sent] == ["staff-9"] and "수납 기록 3건 없음" in sent[0].text
        inspection = (await s.execute(select(Inspection))).scalar_one()
        assert inspection.shared_to == 1 and inspection.shared_at is not None
    after = await client.get(page_url)
    assert 'class="ok"' in after.text


async def test_another_districts_operator_gets_404_and_sees_nothing(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        inspection = Inspection(district_id=world.mapo.district_id, provider_id=world.lead.id, planned_on=clock.today())  # type: ignore[arg-type]
        s.add(inspection)
    token = await signed_in(client, "eunpyeong")
    assert (await client.get(f"/monitoring/{inspection.id}")).status_code == 404
    assert (await client.get(f"/monitoring?provider={world.lead.id}")).status_code == 404
    listing = await client.get("/monitoring")
    assert listing.status_code == 200 and world.lead.name not in listing.text
    forged = await client.post(
        "/monitoring",
        data={"csrf_token": token, "provider_id": str(world.lead.id), "kind": "regular", "planned_on": "2026-11-20"},
    )
    assert forged.status_code == 404
    async with db.sessions() as s:
        assert len((await s.execute(select(Inspection))).scalars().all()) == 1


async def test_a_new_provider_waits_until_its_consulting_is_recorded_on_its_page(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _district_admin(db, world)
    token = await signed_in(client, "mapo-admin")
    created = await client.post(
        f"/admin/districts/{world.mapo.district_id}/providers",
        data={
            "csrf_token": token,
            "name": "새봄돌봄",
            "kind": "cooperative",
            "svc_meals": "yes",
            "regions": str(world.mapo.regions[0].id),
        },
    )
    assert created.status_code == 303
    async with db.sessions() as s:
        new = (await s.execute(select(Provider).where(Provider.name == "새봄돌봄"))).scalar_one()
    assert new.registration == registration.PENDING
    listed = await client.get("/providers")
    row = listed.text.split("새봄돌봄")[1].split("</tr>")[0]
    assert f"/admin/directory/providers/{new.id}#registration" in row

    # The desk: the queue's "assign together" list does not offer it; the order page shows it disabled.
    desk_token = await signed_in(client, "mapo")
    queue = await client.get("/")
    choices = queue.text.split('name="provider_id"')[1].split("</select>")[0]
    assert world.lead.name in choices and "새봄돌봄" not in choices
    order_page = await client.get(f"/orders/{world.order.id}")
    option = re.search(rf'<option value="{new.id}"[^>]*>', order_page.text)
    assert option is None or "disabled" in option.group(0)
    forced = await client.post(
        "/queue/assign", data={"csrf_token": desk_token, "order_id": str(world.order.id), "provider_id": str(new.id)}
    )
    assert forced.status_code in (200, 422)
    async with db.sessions() as s:
        assert (await s.execute(select(Assignment).where(Assignment.provider_id == new.id))).first() is None

    # Another district's admin cannot record it; the desk operator neither.
    async with db.transaction() as s:
        s.add(
            Operator(
                username="ep-admin",
                password_hash=_password_hash(),
                role="admin",
                district_id=world.other.district_id,
            )
        )
    other_token = await signed_in(client, "ep-admin")
    form = {"consulted_on": clock.today().isoformat(), "consultant": "지원단 김상담"}
    refused = await client.post(
        f"/admin/directory/providers/{new.id}/consulting", data={"csrf_token": other_token, **form}
    )
    assert refused.status_code == 404
    desk_token = await signed_in(client, "mapo")
    refused = await client.post(
        f"/admin/directory/providers/{new.id}/consulting", data={"csrf_token": desk_token, **form}
    )
    assert refused.status_code == 403

    token = await signed_in(client, "mapo-admin")
    page = await client.get(f"/admin/directory/providers/{new.id}")
    assert 'id="consulting-form"' in page.text
    done = await client.post(f"/admin/directory/providers/{new.id}/consulting", data={"csrf_token": token, **form})
    assert done.status_code == 303
    page = await client.get(done.headers["location"])
    assert 'id="consulting-form"' not in page.text and "지원단 김상담" in page.text
    async with db.transaction() as s:
        provider = await s.get(Provider, new.id)
        assert provider is not None and provider.registration == registration.REGISTERED
        resident = await factories.make_resident(s, world.mapo, name="이영희", phone="+821055550000")
        order = await factories.make_order(s, resident)
    desk_token = await signed_in(client, "mapo")
    assigned = await client.post(
        "/queue/assign", data={"csrf_token": desk_token, "order_id": str(order.id), "provider_id": str(new.id)}
    )
    assert assigned.status_code in (200, 303)
    async with db.sessions() as s:
        assert (await s.execute(select(Assignment).where(Assignment.provider_id == new.id))).first() is not None
