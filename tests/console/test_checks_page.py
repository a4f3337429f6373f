"""The 점검 page: the desk works through the month's billing flags, district-scoped and access-logged."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import httpx
from sqlalchemy import func, select

from care import orders
from dolbom import clock
from storage.db import Database
from storage.models import AccessLog, BillingCheckResolution, Operator, Order, Resident, Visit
from tests import factories
from tests.console.conftest import World, _password_hash, sign_in, signed_in

DEC = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)


async def over_plan_order(db: Database, world: World) -> Order:
    """Two meals planned from 12-01, three delivered by the lead provider (12-01..12-03)."""
    async with db.transaction() as s:
        order = await factories.make_order(s, world.resident, units=2, requested_date=date(2026, 12, 1))
        assert order.id is not None and world.lead.id is not None
        await orders.screen(s, order_id=order.id, actor=factories.DESK)
        await orders.assign(s, order_id=order.id, provider_id=world.lead.id, actor=factories.DESK)
        for d in (1, 2, 3):
            s.add(Visit(district_id=order.district_id, order_id=order.id, resident_id=order.resident_id,
                        provider_id=world.lead.id, day=date(2026, 12, d), units=1))  # fmt: skip
        return order


def form_of(page: str, key: str) -> dict[str, str]:
    row = page[page.index(f'data-key="{key}"') :]
    row = row[: row.index("</tr>")]
    return dict(re.findall(r'name="(key|fingerprint|month)" value="([^"]*)"', row))


async def test_the_desk_resolves_a_flag_with_a_note_and_it_stays_resolved(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    clock.set_now(DEC)
    order = await over_plan_order(db, world)
    token = await signed_in(client, "mapo")
    # The date of death is recorded on the resident page; the visit of the day after is flagged.
    r = await client.post(f"/residents/{world.resident.id}/edit", data={"csrf_token": token, "died_on": "2026-12-02"})
    assert r.status_code == 303, r.text
    async with db.sessions() as s:
        assert (await s.get(Resident, world.resident.id)).died_on == date(2026, 12, 2)  # type: ignore[union-attr]
        visit_ids = [v.id for v in (await s.execute(select(Visit).where(Visit.order_id == order.id))).scalars()]
    resident_page = await client.get(f"/residents/{world.resident.id}")
    assert "2026-12-02" in resident_page.text
    async with db.sessions() as s:
        before = (await s.execute(select(func.max(AccessLog.id)))).scalar_one() or 0
    page = await client.get("/checks?month=2026-12")
    assert page.status_code == 200
    assert f'data-key="over_plan:{order.id}"' in page.text and f'data-key="after_death:{visit_ids[2]}"' in page.text
    for vid in visit_ids:  # each flag links to its visits on the order page
        assert f'href="/orders/{order.id}#visit-{vid}"' in page.text
    assert "박순자" in page.text
    async with db.sessions() as s:
        [logged] = (await s.execute(select(AccessLog).where(AccessLog.id > before))).scalars().all()
        assert logged.action == "billing_checks_view" and logged.resident_ids == [world.resident.id]
    order_page = await client.get(f"/orders/{order.id}")
    assert f'id="visit-{visit_ids[0]}"' in order_page.text

    fields = form_of(page.text, f"over_plan:{order.id}")
    empty = await client.post(f"/checks/{order.id}/resolve", data={**fields, "csrf_token": token, "note": " "})
    assert empty.status_code == 400 and 'role="alert"' in empty.text
    done = await client.post(
        f"/checks/{order.id}/resolve", data={**fields, "csrf_token": token, "note": "보호자 몫 1식, 구청과 통화함"}
    )
    assert done.status_code == 303, done.text
    page = await client.get("/checks?month=2026-12")
    assert f'data-key="over_plan:{order.id}"' not in page.text and f'data-key="after_death:{visit_ids[2]}"' in page.text
    everything = await client.get("/checks?month=2026-12&show=all")
    assert (
        f'data-key="over_plan:{order.id}"' in everything.text
        and "보호자 몫 1식, 구청과 통화함 — mapo" in everything.text
    )
    # The old page's form again: the flag is not open any more.
    again = await client.post(f"/checks/{order.id}/resolve", data={**fields, "csrf_token": token, "note": "다시"})
    assert again.status_code == 422
    # A fourth meal changes the data: the flag comes back open.
    async with db.transaction() as s:
        s.add(Visit(district_id=order.district_id, order_id=order.id, resident_id=order.resident_id,  # type: ignore[arg-type]
                    provider_id=world.lead.id, day=date(2026, 12, 4), units=1))  # fmt: skip
    page = await client.get("/checks?month=2026-12")
    assert f'data-key="over_plan:{order.id}"' in page.text
    stale = await client.post(f"/checks/{order.id}/resolve", data={**fields, "csrf_token": token, "note": "확인"})
    assert stale.status_code == 409
    async with db.sessions() as s:
        [row] = (await s.execute(select(BillingCheckResolution))).scalars().all()
        assert (row.resolved_by_name, row.note, row.district_id) == (
            "mapo",
            "보호자 몫 1식, 구청과 통화함",
            world.mapo.district_id,
        )


async def test_another_districts_staff_see_nothing_and_cannot_resolve(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    clock.set_now(DEC)
    order = await over_plan_order(db, world)
    async with db.transaction() as s:
        s.add(Operator(username="eunpyeong-admin", password_hash=_password_hash(), role="admin",
                       district_id=world.other.district_id))  # fmt: skip
    token = await signed_in(client, "mapo")
    fields = form_of((await client.get("/checks?month=2026-12")).text, f"over_plan:{order.id}")
    await client.post("/logout", data={"csrf_token": token})
    for username in ("eunpyeong", "eunpyeong-admin"):
        r = await sign_in(client, username)
        assert r.status_code == 303
        page = await client.get("/checks?month=2026-12")
        assert page.status_code == 200 and "박순자" not in page.text and "over_plan" not in page.text
        other_token = re.search(r'<meta name="csrf-token" content="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
        refused = await client.post(
            f"/checks/{order.id}/resolve", data={**fields, "csrf_token": other_token, "note": "남의 구 점검"}
        )
        assert refused.status_code == 404, (username, refused.status_code)
        await client.post("/logout", data={"csrf_token": other_token})
    await sign_in(client, "viewer")
    page = await client.get("/checks?month=2026-12")
    assert f'data-key="over_plan:{order.id}"' in page.text and 'action="/checks/' not in page.text
    viewer_token = re.search(r'<meta name="csrf-token" content="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    refused = await client.post(f"/checks/{order.id}/resolve", data={**fields, "csrf_token": viewer_token, "note": "x"})
    assert refused.status_code == 403
    async with db.sessions() as s:
        assert (await s.execute(select(BillingCheckResolution))).scalars().all() == []


async def test_a_bad_month_or_date_gets_a_kind_answer(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, "mapo")
    assert (await client.get("/checks?month=2026-13")).status_code == 400
    r = await client.post(f"/residents/{world.resident.id}/edit", data={"csrf_token": token, "died_on": "어제"})
    assert r.status_code == 400
    r = await client.post(
        f"/residents/{world.resident.id}/edit", data={"csrf_token": token, "moved_out_on": "2999-01-01"}
    )
    assert r.status_code == 400 and 'role="alert"' in r.text
