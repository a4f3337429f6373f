"""The queue's pages for a day's work: tabs, pages, keys on the page, override, desk completion, phone repeats."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Order, OrderHistory, SavedFilter
from tests import factories
from tests.console.conftest import World, signed_in


def _intake_form(world: World, token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "박순자",
        "phone": "010-1234-5678",
        "service": "meals",
        "units": "5",
        "consent": "yes",
        "dong_id": str(world.mapo.dongs[0].id),
        "income_tier": "basic",
        "urgency": "normal",
        **extra,
    }


async def _orders(db: Database) -> int:
    async with db.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(Order))).scalar_one())


async def test_phone_intake_shows_the_consent_script_to_read_aloud(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    page = await client.get("/intake")
    assert page.status_code == 200 and 'id="consent-script"' in page.text


async def test_same_caller_same_service_within_14_days_is_warned_with_a_link_and_may_go_on(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    before = await _orders(db)
    warned = await client.post("/intake", data=_intake_form(world, token))
    assert warned.status_code == 200 and 'id="repeat-warning"' in warned.text
    assert f'href="/orders/{world.order.id}"' in warned.text and world.order.receipt_no in warned.text
    assert 'name="repeat_ok" value="yes"' in warned.text
    # 5 meals = 36,000; 수급, but age and situation not asked: nothing public until the desk decides.
    assert "예상 비용 36,000원: 공공 지원 0원, 본인 부담 36,000원" in warned.text
    assert await _orders(db) == before, "nothing is received before the operator goes on"
    went_on = await client.post("/intake", data=_intake_form(world, token, repeat_ok="yes"))
    assert went_on.status_code == 303 and await _orders(db) == before + 1


async def test_another_service_or_caller_is_not_warned(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, "mapo")
    other_service = await client.post("/intake", data=_intake_form(world, token, service="escort"))
    assert other_service.status_code == 303
    # 김말순's number asks in 마포: her order in 은평구 is another district's, never shown.
    other_caller = await client.post("/intake", data=_intake_form(world, token, name="김말순", phone="010-9876-5432"))
    assert other_caller.status_code == 303


async def test_queue_page_has_tabs_keys_and_pages_every_order_once(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        for _ in range(55):
            await factories.make_order(s, world.resident, service_code="escort", units=1)
    await signed_in(client, "mapo")
    first = await client.get("/")
    assert first.status_code == 200
    for words in ('class="tab on"', 'data-tab="desk">56<', 'class="keys'):
        assert words in first.text, words
    found = re.findall(r'href="(/\?[^"]*after=[^"]+)"', first.text)
    assert found, "a next-page link"
    second = await client.get(found[0].replace("&amp;", "&"))
    assert second.status_code == 200
    ids = re.findall(r'data-href="/orders/(\d+)"', first.text) + re.findall(r'data-href="/orders/(\d+)"', second.text)
    assert len(ids) == 56 == len(set(ids))
    assert str(world.other_order.id) not in ids
    forged = await client.get("/?after=bm90LWEtY3Vyc29y")
    assert forged.status_code == 400


async def test_assigning_outside_the_region_without_override_is_refused_kindly(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        far = await factories.make_provider(s, world.mapo, name="먼동네협동조합", region_index=1)
    token = await signed_in(client, "mapo")
    await client.post(f"/orders/{world.order.id}/screen", data={"version": "1", "csrf_token": token})
    r = await client.post(
        f"/orders/{world.order.id}/assign", data={"version": "2", "provider_id": str(far.id), "csrf_token": token}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/orders/{world.order.id}/assign",
        data={
            "version": "2",
            "provider_id": str(far.id),
            "override": "yes",
            "reason": "가까운 기관 휴무",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    async with db.sessions() as s:
        rows = (await s.execute(select(OrderHistory).where(OrderHistory.action == "override"))).scalars().all()
    assert [h.reason for h in rows] == ["먼동네협동조합: 가까운 기관 휴무"]


async def test_desk_finishes_an_information_order_from_the_order_page(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        info = await factories.make_order(s, world.resident, service_code="info", units=1)
    token = await signed_in(client, "mapo")
    page = await client.get(f"/orders/{info.id}")
    assert f'action="/orders/{info.id}/desk_complete"' in page.text
    r = await client.post(
        f"/orders/{info.id}/desk_complete",
        data={"version": "1", "reason": "장기요양 등급 신청 안내", "given_by": "김창구", "csrf_token": token},
    )
    assert r.status_code == 303
    async with db.sessions() as s:
        done = await s.get(Order, info.id)
    assert done is not None and done.status == "done" and done.details["desk"]["by"] == "김창구"


async def test_ticked_orders_of_one_service_are_assigned_together(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        more = [await factories.make_order(s, world.resident, service_code="meals", units=1) for _ in range(2)]
    token = await signed_in(client, "mapo")
    ids = [world.order.id, *(o.id for o in more)]
    r = await client.post(
        "/queue/assign",
        data={"order_id": [str(i) for i in ids], "provider_id": str(world.lead.id), "csrf_token": token},
    )
    assert r.status_code == 303
    async with db.sessions() as s:
        statuses = [(await s.get(Order, i)).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["assigned"] * 3


async def test_ticked_orders_of_mixed_services_are_refused_kindly_and_nothing_changes(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        escort = await factories.make_order(s, world.resident, service_code="escort", units=1)
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/queue/assign",
        data={
            "order_id": [str(world.order.id), str(escort.id)],
            "provider_id": str(world.lead.id),
            "csrf_token": token,
        },
    )
    assert r.status_code == 422 and 'id="queue-error"' in r.text
    async with db.sessions() as s:
        assert (await s.get(Order, world.order.id)).status == "received"  # type: ignore[union-attr]
        assert (await s.get(Order, escort.id)).status == "received"  # type: ignore[union-attr]


async def test_another_districts_order_in_a_batch_is_not_found(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/queue/assign",
        data={
            "order_id": [str(world.order.id), str(world.other_order.id)],
            "provider_id": str(world.lead.id),
            "csrf_token": token,
        },
    )
    assert r.status_code == 404
    async with db.sessions() as s:
        assert (await s.get(Order, world.order.id)).status == "received"  # type: ignore[union-attr]


async def test_an_operator_saves_a_view_sees_it_and_only_they_can_delete_it(
    app: FastAPI, client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        "/queue/filters",
        data={
            "name": "급한 식사",
            "query": "tab=desk&service=meals&urgency=urgent&after=xyz&page=3",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/?tab=desk&service=meals&urgency=urgent"
    page = await client.get("/")
    assert 'href="/?tab=desk&amp;service=meals&amp;urgency=urgent">급한 식사</a>' in page.text
    async with db.sessions() as s:
        saved = (await s.execute(select(SavedFilter))).scalars().one()
    bad = await client.post("/queue/filters", data={"name": "x", "query": "status=nonsense", "csrf_token": token})
    assert bad.status_code == 400
    # Someone else (another district's operator) cannot delete it.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as other:
        other_token = await signed_in(other, "eunpyeong")
        assert (
            await other.post(f"/queue/filters/{saved.id}/delete", data={"csrf_token": other_token})
        ).status_code == 404
    assert (await client.post(f"/queue/filters/{saved.id}/delete", data={"csrf_token": token})).status_code == 303
    async with db.sessions() as s:
        assert (await s.execute(select(SavedFilter))).scalars().all() == []
