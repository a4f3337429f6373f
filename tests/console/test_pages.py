"""The desk's pages: queue, order actions, phone intake, residents, providers, admin, API."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from storage.db import Database
from storage.models import AccessLog, Assignment, Consent, Order, OrderHistory, Resident
from tests import factories
from tests.console.conftest import World, signed_in

_VERSION = re.compile(r'name="version" value="(\d+)"')


async def _version(client: httpx.AsyncClient, order_id: int) -> str:
    page = await client.get(f"/orders/{order_id}")
    match = _VERSION.search(page.text)
    assert match, page.text[:300]
    return match.group(1)


async def test_queue_lists_open_orders_urgent_first_with_counts(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        urgent = await factories.make_order(s, world.resident, service_code="housing", units=2, urgency="urgent")
    await signed_in(client, "mapo")
    page = await client.get("/")
    assert page.status_code == 200
    text = page.text
    assert world.order.receipt_no in text and urgent.receipt_no in text
    assert text.index(urgent.receipt_no) < text.index(world.order.receipt_no)
    assert re.search(r'data-status="received">2<', text)
    assert world.other_order.receipt_no not in text
    filtered = await client.get("/?service=housing")
    assert urgent.receipt_no in filtered.text and world.order.receipt_no not in filtered.text
    rows = await client.get("/queue/rows?urgency=normal")
    assert world.order.receipt_no in rows.text and urgent.receipt_no not in rows.text
    poll = await client.get("/queue/poll", headers={"X-Dolbom-Poll": "1"})
    assert poll.json()["counts"]["received"] == 2


async def test_queue_marker_changes_when_an_order_arrives(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await signed_in(client, "mapo")
    before = (await client.get("/queue/poll")).json()["marker"]
    async with db.transaction() as s:
        await factories.make_order(s, world.resident, service_code="escort", units=1)
    assert (await client.get("/queue/poll")).json()["marker"] != before


async def test_search_by_receipt_name_and_last_four(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post("/queue/search", data={"q": world.order.receipt_no, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{world.order.id}"
    for q in ("박순", "5678"):
        r = await client.post("/queue/search", data={"q": q, "csrf_token": token})
        assert r.status_code == 200 and world.order.receipt_no in r.text, q
    r = await client.post("/queue/search", data={"q": "0000", "csrf_token": token})
    assert world.order.receipt_no not in r.text


async def test_screen_assign_reassign_and_history(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(f"/orders/{world.order.id}/screen", data={"version": "1", "csrf_token": token})
    assert r.status_code == 303
    page = await client.get(f"/orders/{world.order.id}")
    # The region's lead is proposed and preselected, with its one-line reason.
    assert re.search(rf'<option value="{world.lead.id}"\s+selected', page.text)
    assert "마포돌봄협동조합" in page.text and "0/20" in page.text
    r = await client.post(
        f"/orders/{world.order.id}/assign",
        data={
            "version": await _version(client, world.order.id),
            "provider_id": str(world.lead.id),
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    page = await client.get(f"/orders/{world.order.id}")
    # Reassigning proposes one of the others, not the provider that has it now.
    assert re.search(rf'<option value="{world.backup.id}"\s+selected', page.text)
    assert f'<option value="{world.lead.id}"' not in page.text
    v = await _version(client, world.order.id)
    r = await client.post(
        f"/orders/{world.order.id}/reassign",
        data={"version": v, "provider_id": str(world.backup.id), "reason": "", "csrf_token": token},
    )
    assert r.status_code == 422 and "사유" in r.text
    r = await client.post(
        f"/orders/{world.order.id}/reassign",
        data={"version": v, "provider_id": str(world.backup.id), "reason": "배정기관 인력 부족", "csrf_token": token},
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "배정기관 인력 부족" in page.text
    async with db.sessions() as s:
        actions = list(
            (
                await s.execute(
                    select(OrderHistory.action).where(OrderHistory.order_id == world.order.id).order_by(OrderHistory.id)
                )
            ).scalars()
        )
        assert actions == ["create", "screen", "assign", "reassign"]
        assigned = list((await s.execute(select(Assignment).order_by(Assignment.id))).scalars())
        assert [(a.provider_id, a.status) for a in assigned] == [
            (world.lead.id, "withdrawn"),
            (world.backup.id, "pending"),
        ]
        hist = (await s.execute(select(OrderHistory).where(OrderHistory.action == "reassign"))).scalar_one()
        assert hist.actor_name == "mapo 담당" and hist.channel == "console"


async def test_no_provider_available_says_why(client: httpx.AsyncClient, db: Database, world: World) -> None:
    async with db.transaction() as s:
        order = await factories.make_order(s, world.resident, service_code="short_stay", units=1)
    token = await signed_in(client, "mapo")
    await client.post(f"/orders/{order.id}/screen", data={"version": "1", "csrf_token": token})
    page = await client.get(f"/orders/{order.id}")
    assert page.status_code == 200
    assert "맞는 제공기관이 없습니다" in page.text or "No provider fits" in page.text


async def test_cancel_needs_a_reason_and_note_is_kept(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        f"/orders/{world.order.id}/note", data={"version": "1", "reason": "보호자와 통화", "csrf_token": token}
    )
    assert r.status_code == 303
    r = await client.post(f"/orders/{world.order.id}/cancel", data={"version": "2", "reason": " ", "csrf_token": token})
    assert r.status_code == 422
    r = await client.post(
        f"/orders/{world.order.id}/cancel", data={"version": "2", "reason": "본인 취소", "csrf_token": token}
    )
    assert r.status_code == 303
    page = await client.get(f"/orders/{world.order.id}")
    assert "보호자와 통화" in page.text and "본인 취소" in page.text
    assert f'action="/orders/{world.order.id}/screen"' not in page.text  # nothing the lifecycle forbids


async def test_phone_intake_creates_an_order_with_consent_by_phone(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    form = await client.get("/intake")
    assert form.status_code == 200 and 'name="consent"' in form.text
    data = {
        "csrf_token": token,
        "service": "housing",
        "units": "2",
        "name": "이복례",
        "phone": "010 3333 4444",
        "dong_id": str(world.mapo.dongs[1].id),
        "birth_year": "1941년생",
        "requested_date": "내일",
        "urgency": "urgent",
        "income_tier": "near_poor",
        "no_family_care": "yes",
        "notes": "화장실 손잡이",
        "consent": "yes",
    }
    r = await client.post("/intake", data=data)
    assert r.status_code == 303, r.text
    async with db.sessions() as s:
        resident = (await s.execute(select(Resident).where(Resident.name == "이복례"))).scalar_one()
        assert resident.phone == "+821033334444" and resident.birth_year == 1941
        order = (await s.execute(select(Order).where(Order.resident_id == resident.id))).scalar_one()
        assert order.source == "desk_phone" and order.urgency == "urgent" and order.requested_date is not None
        consent = (await s.execute(select(Consent).where(Consent.resident_id == resident.id))).scalar_one()
        assert consent.channel == "phone" and consent.operator_id is not None
        first = (await s.execute(select(OrderHistory).where(OrderHistory.order_id == order.id))).scalar_one()
        assert first.channel == "phone" and first.actor_name == "mapo 담당"
    assert r.headers["location"] == f"/orders/{order.id}?done=intake"


async def test_phone_intake_refuses_bad_input_and_registration_numbers(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    base = {"csrf_token": token, "service": "meals", "name": "최영자", "phone": "010-5555-6666", "consent": "yes"}
    r = await client.post("/intake", data={**base, "phone": "1588-1234", "requested_date": "어제"})
    assert r.status_code == 400
    assert "010-1234-5678" in r.text
    r = await client.post("/intake", data={**base, "consent": ""})
    assert r.status_code == 400 and "동의" in r.text
    r = await client.post("/intake", data={**base, "notes": "주민번호 410101-2345678 입니다"})
    assert r.status_code == 422
    assert "최영자" in r.text  # what was typed stays, except the number
    assert "2345678" not in r.text and "주민등록번호" in r.text
    async with db.sessions() as s:
        assert (await s.execute(select(Resident).where(Resident.name == "최영자"))).first() is None


async def test_resident_detail_edit_history_and_export(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post("/residents/search", data={"q": "5678", "csrf_token": token})
    assert "박순자" in r.text and "김말순" not in r.text
    page = await client.get(f"/residents/{world.resident.id}")
    assert page.status_code == 200 and world.order.receipt_no in page.text
    r = await client.post(
        f"/residents/{world.resident.id}/edit",
        data={"csrf_token": token, "name": "박순자", "phone": "010-1234-9999", "address": "마포구 월드컵로 1"},
    )
    assert r.status_code == 303
    page = await client.get(f"/residents/{world.resident.id}")
    assert "월드컵로" in page.text and "phone: +821012345678 → +821012349999" in page.text
    r = await client.post(f"/residents/{world.resident.id}/edit", data={"csrf_token": token, "phone": "12"})
    assert r.status_code == 400
    r = await client.post("/residents/export", data={"csrf_token": token, "q": ""})
    assert r.status_code == 400 and "박순자" not in r.text.split("<table")[0]  # no reason, no download
    r = await client.post("/residents/export", data={"csrf_token": token, "q": "", "reason": "월말 안부 점검"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "박순자" in r.text and "김말순" not in r.text
    async with db.sessions() as s:
        rows = list((await s.execute(select(AccessLog.action, AccessLog.resident_id))).all())
        export = (await s.execute(select(AccessLog).where(AccessLog.action == "resident_export"))).scalar_one()
    assert ("resident_update", world.resident.id) in rows
    assert export.resident_ids == [world.resident.id] and export.row_count == 1 and export.reason == "월말 안부 점검"


async def test_providers_page_shows_load_and_rates(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "mapo")
    await client.post(f"/orders/{world.order.id}/screen", data={"version": "1", "csrf_token": token})
    await client.post(
        f"/orders/{world.order.id}/assign",
        data={"version": "2", "provider_id": str(world.lead.id), "csrf_token": token},
    )
    page = await client.get("/providers")
    assert "마포돌봄협동조합" in page.text and "1/20" in page.text
    assert 'action="/providers/' not in page.text  # only admins edit providers
    r = await client.post(f"/providers/{world.lead.id}", data={"csrf_token": token, "weekly_capacity": "5"})
    assert r.status_code == 403


async def test_admin_pages_and_access_log_export(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "admin")
    for path in ("/admin/operators", "/admin/catalog", "/admin/invites", "/admin/access-log", "/providers"):
        r = await client.get(path)
        assert r.status_code == 200, path
    r = await client.post(
        "/admin/operators",
        data={
            "csrf_token": token,
            "username": "new1",
            "password": "long-enough-1",
            "role": "viewer",
            "district_id": str(world.mapo.district_id),
        },
    )
    assert r.status_code == 303
    r = await client.post(
        f"/providers/{world.backup.id}", data={"csrf_token": token, "weekly_capacity": "7", "active": "no"}
    )
    assert r.status_code == 303
    r = await client.get("/admin/access-log?action=signin")
    assert "admin" in r.text
    r = await client.post("/admin/access-log/export", data={"csrf_token": token, "action": ""})
    assert r.status_code == 400  # the reason is asked for first
    r = await client.post("/admin/access-log/export", data={"csrf_token": token, "action": "", "reason": "분기 점검"})
    assert r.status_code == 200 and "로그인" in r.text  # action names in Korean
    async with db.sessions() as s:
        row = (await s.execute(select(AccessLog).where(AccessLog.action == "access_log_export"))).scalar_one()
        assert row.reason == "분기 점검"
    # A district operator has no admin pages.
    client.cookies.clear()
    await signed_in(client, "mapo")
    assert (await client.get("/admin/operators")).status_code == 403
    assert "/admin/" not in (await client.get("/")).text


async def test_openapi_lists_the_api(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    spec = (await client.get("/api/openapi.json")).json()
    assert {"/api/orders", "/api/orders/{order_id}", "/api/residents/{resident_id}", "/api/providers"} <= set(
        spec["paths"]
    )
    orders = (await client.get("/api/orders")).json()
    assert [o["receipt_no"] for o in orders["orders"]] == [world.order.receipt_no]


async def test_api_docs_load_nothing_from_elsewhere(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    page = await client.get("/api/docs")
    assert page.status_code == 200 and "/api/orders/{order_id}" in page.text
    assert "cdn" not in page.text.lower() and "<script" not in page.text


async def test_the_desk_records_a_completion_above_the_plan_only_with_approval(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    from care import orders
    from tests.factories import DESK

    async with db.transaction() as s:
        oid = world.order.id
        assert oid is not None and world.lead.id is not None
        await orders.screen(s, order_id=oid, actor=DESK)
        await orders.assign(s, order_id=oid, provider_id=world.lead.id, actor=DESK)
        await orders.accept(s, order_id=oid, provider_id=world.lead.id, actor=DESK)
        await orders.start(s, order_id=oid, actor=DESK)
    token = await signed_in(client, "mapo")
    page = await client.get(f"/orders/{oid}")
    assert "완료 기록" in page.text and "계획이나 한도보다 많은 양을 승인합니다" in page.text
    planned = world.order.units
    data = {
        "version": await _version(client, oid),
        "units": str(planned + 2),
        "reason": "추가 제공",
        "csrf_token": token,
    }
    refused = await client.post(f"/orders/{oid}/complete", data=data)
    assert refused.status_code == 422 and "승인" in refused.text
    r = await client.post(f"/orders/{oid}/complete", data={**data, "approve": "yes"})
    assert r.status_code == 303
    async with db.sessions() as s:
        done = await orders.get(s, order_id=oid)
        assert (done.status, done.delivered_units) == ("done", planned + 2)
        last = (await orders.list_history(s, order_id=oid))[-1]
        assert (last.action, last.reason, last.actor_kind, last.actor_name) == (
            "complete",
            "추가 제공",
            "operator",
            "mapo 담당",
        )


async def test_phone_intake_shows_the_expected_amounts_before_receiving(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    data = {
        "csrf_token": token,
        "service": "meals",
        "units": "10",
        "name": "이복례",
        "phone": "010 3333 4444",
        "birth_year": "1941",
        "income_tier": "basic",
        "cannot_manage_alone": "yes",
        "sensitive_consent": "yes",
        "step": "estimate",
    }
    page = await client.post("/intake", data=data)
    assert page.status_code == 200 and 'id="estimate"' in page.text
    # 10 meals × 7,200 = 72,000, all public support as the caller says (the desk still decides).
    assert "예상 비용 72,000원: 공공 지원 72,000원, 본인 부담 0원" in page.text
    assert 'value="이복례"' in page.text and 'value="10"' in page.text  # the form keeps what was typed
    general = await client.post("/intake", data={**data, "income_tier": "general"})
    assert "예상 비용 72,000원: 공공 지원 0원, 본인 부담 72,000원" in general.text
    async with db.sessions() as s:
        assert (await s.execute(select(Resident).where(Resident.name == "이복례"))).first() is None
    received = await client.post("/intake", data={**data, "step": "", "consent": "yes"})
    assert received.status_code == 303
