"""CSRF, GET without side effects, headers, district scoping, roles, stale changes, the access log."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, Assignment, Order, OrderHistory, Resident
from tests import factories
from tests.console.conftest import World, signed_in

_VERSION = re.compile(r'name="version" value="(\d+)"')


async def _order(db: Database, order_id: int) -> Order:
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        return order


async def _log(db: Database, action: str) -> list[AccessLog]:
    async with db.sessions() as s:
        return list((await s.execute(select(AccessLog).where(AccessLog.action == action))).scalars())


async def _state(db: Database) -> tuple[object, ...]:
    async with db.sessions() as s:
        orders = (await s.execute(select(Order.id, Order.status, Order.version).order_by(Order.id))).all()
        counts = []
        for table in (OrderHistory, Assignment, Resident):
            counts.append((await s.execute(select(func.count()).select_from(table))).scalar_one())
        names = (await s.execute(select(Resident.name, Resident.phone).order_by(Resident.id))).all()
        return tuple(orders), tuple(counts), tuple(names)


async def test_post_without_or_with_a_wrong_csrf_token_is_403(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await signed_in(client, "mapo")
    url = f"/orders/{world.order.id}/screen"
    r = await client.post(url, data={"version": "1"})
    assert r.status_code == 403
    r = await client.post(url, data={"version": "1", "csrf_token": "not-the-token"})
    assert r.status_code == 403
    r = await client.post(url, data={"version": "1"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = await client.post(f"/api/orders/{world.order.id}/screen", json={"version": 1})
    assert r.status_code == 403
    assert (await _order(db, world.order.id)).status == "received"
    # Sign-out is a state change too.
    assert (await client.post("/logout")).status_code == 403
    assert (await client.get("/")).status_code == 200


async def test_the_right_token_works_in_the_form_and_the_header(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(f"/orders/{world.order.id}/screen", data={"version": "1", "csrf_token": token})
    assert r.status_code == 303
    r = await client.post(
        f"/api/orders/{world.order.id}/note",
        json={"version": 2, "reason": "전화 드림"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 3


async def test_get_never_changes_state(client: httpx.AsyncClient, app: FastAPI, db: Database, world: World) -> None:
    await signed_in(client, "admin")
    before = await _state(db)
    ids = {"order_id": world.order.id, "resident_id": world.resident.id, "provider_id": world.lead.id}
    paths = [
        "/",
        "/queue/rows",
        "/queue/poll",
        "/intake",
        "/residents",
        "/providers",
        "/admin/operators",
        "/admin/catalog",
        "/admin/invites",
        "/admin/access-log",
        "/api/orders",
        "/api/residents",
        "/api/providers",
        "/api/openapi.json",
        *(f"/orders/{world.order.id}/{a}" for a in ("screen", "assign", "cancel", "note")),
        f"/orders/{world.order.id}",
        f"/residents/{world.resident.id}",
        f"/residents/{world.resident.id}/edit",
        f"/api/orders/{world.order.id}",
        f"/api/residents/{world.resident.id}",
        "/logout",
        "/admin/access-log/export",
        "/residents/export",
        f"/providers/{world.lead.id}",
    ]
    for path in paths:
        r = await client.get(path.format(**ids))
        assert r.status_code in (200, 400, 404, 405), (path, r.status_code)
    assert await _state(db) == before
    assert (await client.get("/")).status_code == 200  # still signed in: GET /logout did nothing


async def test_security_headers(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    r = await client.get(f"/orders/{world.order.id}")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert "<script>" not in r.text and " onclick=" not in r.text
    assert "https://" not in r.text and "http://" not in r.text  # nothing loads from the internet


async def test_search_keeps_names_out_of_urls(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    page = await client.get("/")
    assert 'method="post" action="/queue/search"' in page.text
    page = await client.get("/residents")
    assert 'method="post" action="/residents/search"' in page.text


async def test_another_districts_order_is_404_and_the_attempt_is_logged(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.get(f"/orders/{world.other_order.id}")
    assert r.status_code == 404
    assert world.other_resident.name not in r.text
    r = await client.post(f"/orders/{world.other_order.id}/screen", data={"version": "1", "csrf_token": token})
    assert r.status_code == 404
    assert (await _order(db, world.other_order.id)).status == "received"
    r = await client.get(f"/api/orders/{world.other_order.id}")
    assert r.status_code == 404
    rows = await _log(db, "denied_other_district")
    assert len(rows) == 3
    assert all(row.username == "mapo" and row.resident_id == world.other_resident.id for row in rows)
    # Nor does it show in the queue or a search.
    queue = await client.get("/")
    assert world.other_order.receipt_no not in queue.text
    r = await client.post("/queue/search", data={"q": world.other_order.receipt_no, "csrf_token": token})
    assert r.status_code == 200 and "/orders/" not in r.headers.get("location", "")


async def test_another_districts_resident_is_404_and_logged(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await signed_in(client, "mapo")
    for path in (f"/residents/{world.other_resident.id}", f"/api/residents/{world.other_resident.id}"):
        r = await client.get(path)
        assert r.status_code == 404
        assert world.other_resident.name not in r.text
    rows = await _log(db, "denied_other_district")
    assert [row.resident_id for row in rows] == [world.other_resident.id] * 2
    assert await _log(db, "resident_view") == []


async def test_an_unbound_admin_sees_every_district(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "admin")
    assert (await client.get(f"/orders/{world.other_order.id}")).status_code == 200


async def test_a_viewer_cannot_change_anything(client: httpx.AsyncClient, db: Database, world: World) -> None:
    token = await signed_in(client, "viewer")
    before = await _state(db)
    page = await client.get(f"/orders/{world.order.id}")
    assert page.status_code == 200 and 'action="/orders/' not in page.text
    posts = [
        (f"/orders/{world.order.id}/screen", {"version": "1"}),
        (f"/orders/{world.order.id}/cancel", {"version": "1", "reason": "x"}),
        (f"/orders/{world.order.id}/note", {"version": "1", "reason": "x"}),
        ("/intake", {"name": "홍길동", "phone": "010-2222-3333", "service": "meals", "consent": "yes"}),
        (f"/residents/{world.resident.id}/edit", {"name": "바뀐이름"}),
        ("/residents/export", {"q": ""}),
        (f"/providers/{world.lead.id}", {"weekly_capacity": "1", "active": "no"}),
        ("/admin/operators", {"username": "x", "password": "12345678", "role": "admin"}),
    ]
    for url, data in posts:
        r = await client.post(url, data={**data, "csrf_token": token})
        assert r.status_code == 403, url
    r = await client.post(f"/api/orders/{world.order.id}/screen", json={"version": 1}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    assert (await client.get("/intake")).status_code == 403
    assert await _state(db) == before


async def test_a_stale_change_is_refused_with_the_current_state(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    page = await client.get(f"/orders/{world.order.id}")
    seen = _VERSION.search(page.text)
    assert seen and seen.group(1) == "1"
    # Someone else screens the order meanwhile.
    r = await client.post(f"/orders/{world.order.id}/screen", data={"version": "1", "csrf_token": token})
    assert r.status_code == 303
    # The page loaded before still says version 1: its cancel is refused.
    r = await client.post(
        f"/orders/{world.order.id}/cancel", data={"version": "1", "reason": "중복 신청", "csrf_token": token}
    )
    assert r.status_code == 409
    assert "방금 다른 분이 이 신청을 바꿨습니다" in r.text
    assert "검토" in r.text  # the current status is shown
    order = await _order(db, world.order.id)
    assert order.status == "screening" and order.version == 2
    r = await client.post(
        f"/api/orders/{world.order.id}/cancel", json={"version": 1, "reason": "x"}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 409 and "error" in r.json()


async def test_every_resident_view_is_logged(client: httpx.AsyncClient, db: Database, world: World) -> None:
    await signed_in(client, "mapo")
    await client.get(f"/residents/{world.resident.id}")
    await client.get(f"/api/residents/{world.resident.id}")
    await client.get(f"/orders/{world.order.id}")
    views = await _log(db, "resident_view")
    assert len(views) == 2
    assert all(v.resident_id == world.resident.id and v.username == "mapo" and v.ip for v in views)
    order_views = await _log(db, "order_view")
    assert [v.resident_id for v in order_views] == [world.resident.id]


async def test_errors_are_korean_pages_without_a_trace(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    r = await client.get("/orders/999999")
    assert r.status_code == 404
    assert "Traceback" not in r.text and "<html" in r.text
    r = await client.get("/no/such/page")
    assert r.status_code == 404 and "Traceback" not in r.text


async def test_require_operator_guards_routers_mounted_from_outside(db: Database, world: World) -> None:
    """The bot's web chat is mounted with app.state.require_operator: sign-in and CSRF apply to it."""
    app = create_app(database=db, settings=Settings())
    chat = APIRouter()

    @chat.get("/chat")
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{request.state.operator.username} {request.state.csrf_token}")

    @chat.post("/chat/send")
    async def send() -> PlainTextResponse:
        return PlainTextResponse("sent")

    app.include_router(chat, dependencies=[Depends(app.state.require_operator)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        assert (await c.get("/chat")).status_code == 303
        token = await signed_in(c, "mapo")
        r = await c.get("/chat")
        assert r.status_code == 200, r.text[-800:]
        assert r.text == f"mapo {token}"
        assert (await c.post("/chat/send", json={"text": "안녕"})).status_code == 403
        r = await c.post("/chat/send", json={"text": "안녕"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.text == "sent"


async def test_queue_filters_by_region_dong_and_age(client: httpx.AsyncClient, db: Database, world: World) -> None:
    async with db.transaction() as s:
        far = await factories.make_resident(s, world.mapo, name="남궁옥", dong_id=world.mapo.dongs[-1].id)
        new = await factories.make_order(s, far, service_code="escort", units=1)
        old = await s.get(Order, world.order.id)
        assert old is not None
        old.created_at = clock.now() - timedelta(days=4)
        s.add(old)
    await signed_in(client, "mapo")
    r = await client.get(f"/?region={world.mapo.regions[1].id}")
    assert new.receipt_no in r.text and world.order.receipt_no not in r.text
    r = await client.get(f"/?dong={world.mapo.dongs[0].id}")
    assert world.order.receipt_no in r.text and new.receipt_no not in r.text
    r = await client.get("/?age=3")
    assert world.order.receipt_no in r.text and new.receipt_no not in r.text
    r = await client.get("/?status=bogus&service=<script>")
    assert r.status_code == 400 and "<script>" not in r.text
