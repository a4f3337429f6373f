"""The console's side of who is talking: bindings on the resident page, "같은 분일 수 있어요" on the order page."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from care import intake
from care.actors import Actor
from storage.db import Database
from storage.models import AccessLog, Operator, Order, Resident, ResidentChannel
from tests.console.conftest import World, signed_in


async def _claim(db: Database, world: World, key: str = "777") -> int:
    async with db.transaction() as s:
        row = ResidentChannel(resident_id=world.resident.id, channel="telegram", user_key=key)  # type: ignore[arg-type]
        s.add(row)
        await s.flush()
        assert row.id is not None
        return row.id


async def _unverified_request(db: Database, world: World, key: str = "777") -> Order:
    """A chat that is not verified asks for 박순자 with her name and phone, and another address."""
    async with db.transaction() as s:
        return await intake.submit(
            s,
            request=intake.IntakeRequest(
                district_id=world.mapo.district_id,
                service_code="meals",
                units=10,
                name="박순자",
                phone="010-1234-5678",
                address="합정로 99",
                consent=True,
            ),
            channel="telegram",
            user_key=key,
            actor=Actor(kind="resident", channel="telegram"),
        )


async def test_the_resident_page_lists_the_chats_and_the_desk_confirms_one(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    binding_id = await _claim(db, world)
    token = await signed_in(client, "mapo")
    page = await client.get(f"/residents/{world.resident.id}")
    assert "메신저 계정" in page.text and "확인 안 됨" in page.text and "본인 계정으로 확인" in page.text
    r = await client.post(f"/residents/{world.resident.id}/bindings/{binding_id}/confirm", data={"csrf_token": token})
    assert r.status_code == 303
    async with db.sessions() as s:
        row = await s.get(ResidentChannel, binding_id)
        mapo = (await s.execute(select(Operator).where(Operator.username == "mapo"))).scalar_one()
        assert row is not None and row.verified_how == "desk" and row.verified_by == mapo.id
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "binding_confirm"))).scalar_one()
        assert logged.operator_id == mapo.id and logged.resident_id == world.resident.id
    page = await client.get(f"/residents/{world.resident.id}")
    assert "창구 확인: mapo" in page.text and "확인 취소" in page.text


async def test_a_viewer_or_another_districts_operator_cannot_confirm_a_chat(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    binding_id = await _claim(db, world)
    for username, status in (("viewer", 403), ("eunpyeong", 404)):
        client.cookies.clear()
        token = await signed_in(client, username)
        r = await client.post(
            f"/residents/{world.resident.id}/bindings/{binding_id}/confirm", data={"csrf_token": token}
        )
        assert r.status_code == status, username
    async with db.sessions() as s:
        assert (await s.get(ResidentChannel, binding_id)).verified_at is None  # type: ignore[union-attr]


async def test_the_order_page_offers_to_link_a_possible_same_person_and_to_apply_what_changed(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    order = await _unverified_request(db, world)
    assert order.resident_id != world.resident.id
    token = await signed_in(client, "mapo")
    page = await client.get(f"/orders/{order.id}")
    assert "같은 분일 수 있어요: " in page.text and "합정로 99" in page.text
    assert "같은 분: 그분 기록에 연결" in page.text
    r = await client.post(f"/orders/{order.id}/identity/merge", data={"csrf_token": token})
    assert r.status_code == 303
    async with db.sessions() as s:
        assert (await s.get(Order, order.id)).resident_id == world.resident.id  # type: ignore[union-attr]
        assert (await s.get(Resident, world.resident.id)).address != "합정로 99"  # type: ignore[union-attr]
    r = await client.post(f"/orders/{order.id}/proposed/address/apply", data={"csrf_token": token})
    assert r.status_code == 303
    async with db.sessions() as s:
        assert (await s.get(Resident, world.resident.id)).address == "합정로 99"  # type: ignore[union-attr]
