"""The resident page's 돌봄SOS decision and the order page's entitlement line, through the console."""

from __future__ import annotations

import csv
import io

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from care import entitlements, orders
from storage.db import Database
from storage.models import AccessLog, EligibilityDecision, EntitlementEntry, Order, Provider
from tests import factories
from tests.console.conftest import World, signed_in


async def test_the_desk_records_a_decision_on_the_resident_page_and_history_is_kept(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    token = await signed_in(client, "mapo")
    form = {
        "csrf_token": token,
        "eligible": "no",
        "income_tier": "basic",
        "valid_from": "2026-01-01",
        "note": "만 40세, 장애 없음",
    }
    r = await client.post(f"/residents/{world.resident.id}/eligibility", data=form)
    assert r.status_code == 303, r.text
    page = await client.get(f"/residents/{world.resident.id}")
    assert page.status_code == 200 and 'id="eligibility"' in page.text
    assert "Earlier decisions" in page.text or "이전 결정" in page.text  # the factory's decision stays as history
    async with db.sessions() as s:
        rows = (
            (await s.execute(select(EligibilityDecision).where(EligibilityDecision.resident_id == world.resident.id)))
            .scalars()
            .all()
        )
        assert sorted(r.eligible for r in rows) == [False, True]
        logged = (await s.execute(select(AccessLog.action).where(AccessLog.action == "eligibility_decide"))).all()
        assert len(logged) == 1


async def test_a_bad_decision_form_gets_a_kind_answer_not_a_500(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, "mapo")
    r = await client.post(
        f"/residents/{world.resident.id}/eligibility",
        data={"csrf_token": token, "eligible": "yes", "income_tier": "basic", "valid_from": "어제"},
    )
    assert r.status_code == 400 and 'role="alert"' in r.text


async def test_the_order_page_shows_the_entitlement_line_before_assignment(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await signed_in(client, "mapo")
    page = await client.get(f"/orders/{world.order.id}")
    # 10 meals × 7,200 = 72,000 public for the 수급자, nothing for the resident.
    assert page.status_code == 200 and 'data-testid="money-line"' in page.text
    assert "1,520,000" in page.text and "72,000" in page.text


async def test_an_undecided_residents_order_is_assigned_only_after_self_payment_is_recorded(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        unsure = await factories.make_resident(s, world.mapo, income_tier="unknown")
        order = await factories.make_order(s, unsure, units=5)
    token = await signed_in(client, "mapo")
    await client.post(f"/orders/{order.id}/screen", data={"version": "1", "csrf_token": token})
    refused = await client.post(
        f"/orders/{order.id}/assign", data={"version": "2", "provider_id": str(world.lead.id), "csrf_token": token}
    )
    assert 400 <= refused.status_code < 500 and 'class="alert"' in refused.text
    no_consent = await client.post(f"/orders/{order.id}/funding/self_paid", data={"csrf_token": token})
    assert no_consent.status_code == 400
    r = await client.post(
        f"/orders/{order.id}/funding/self_paid", data={"csrf_token": token, "consent_note": "본인 전화로 동의"}
    )
    assert r.status_code == 303
    ok = await client.post(
        f"/orders/{order.id}/assign", data={"version": "2", "provider_id": str(world.lead.id), "csrf_token": token}
    )
    assert ok.status_code == 303, ok.text
    async with db.sessions() as s:
        entry = (await s.execute(select(EntitlementEntry).where(EntitlementEntry.order_id == order.id))).scalar_one()
        # 5 meals × 7,200 = 36,000, the resident's.
        assert (entry.status, entry.public_amount, entry.resident_amount) == ("reserved", 0, 36_000)


async def test_the_desk_records_visits_for_a_provider_and_completes_from_them(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        order_id = world.order.id
        await orders.screen(s, order_id=order_id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.accept(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
    token = await signed_in(client, "mapo")
    today = entitlements.today().isoformat()
    for kind, units, reason in (("delivered", "6", ""), ("no_show", "0", "이용자 부재"), ("delivered", "3", "")):
        r = await client.post(
            f"/orders/{order_id}/visits/record",
            data={"csrf_token": token, "day": today, "kind": kind, "units": units, "reason": reason},
        )
        assert r.status_code == 303, r.text
    page = await client.get(f"/orders/{order_id}")
    assert 'id="visits"' in page.text and "이용자 부재" in page.text
    bad = await client.post(
        f"/orders/{order_id}/visits/record",
        data={"csrf_token": token, "day": today, "kind": "no_show", "units": "0", "reason": ""},
    )
    assert bad.status_code == 400
    done = await client.post(f"/orders/{order_id}/visits/complete", data={"csrf_token": token})
    assert done.status_code == 303
    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        assert order is not None and (order.status, order.delivered_units) == ("done", 9)


async def test_the_settlement_page_and_api_give_the_same_month_to_the_won(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        order_id = world.order.id
        await orders.screen(s, order_id=order_id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.accept(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.start(s, order_id=order_id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.complete(s, order_id=order_id, delivered_units=8, actor=factories.DESK)  # type: ignore[arg-type]
    await signed_in(client, "mapo")
    month = entitlements.today().strftime("%Y-%m")
    api = await client.get(f"/api/settlement?month={month}")
    assert api.status_code == 200
    data = api.json()
    # 8 meals × 7,200 = 57,600, all public for the 수급자.
    assert (data["total"], data["public"], data["resident"]) == (57_600, 57_600, 0)
    [provider] = data["providers"]
    assert provider["provider_name"] == "마포돌봄협동조합" and provider["lines"][0]["units"] == 8
    page = await client.get(f"/settlement?month={month}")
    assert page.status_code == 200 and "57,600" in page.text
    assert (await client.get(f"/api/settlement?month={month}&provider={world.backup.id}")).json()["total"] == 0
    assert (await client.get("/api/settlement?month=2026-13")).status_code == 400
    assert (await client.get("/settlement?month=어제")).status_code == 400
    await signed_in(client, "eunpyeong")
    assert (await client.get(f"/api/settlement?month={month}")).json()["total"] == 0


async def test_the_settlement_exports_read_back_equal_to_the_api_and_are_formula_inert(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        order_id = world.order.id
        await orders.screen(s, order_id=order_id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.assign(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.accept(s, order_id=order_id, provider_id=world.lead.id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.start(s, order_id=order_id, actor=factories.DESK)  # type: ignore[arg-type]
        await orders.complete(s, order_id=order_id, delivered_units=8, actor=factories.DESK)  # type: ignore[arg-type]
        lead = await s.get(Provider, world.lead.id)
        assert lead is not None
        lead.name = "=HYPERLINK(1)"
    token = await signed_in(client, "mapo")
    month = entitlements.today().strftime("%Y-%m")
    api = (await client.get(f"/api/settlement?month={month}")).json()
    form = {"csrf_token": token, "month": month, "reason": "월말 정산"}
    csv_body = (await client.post("/settlement/export", data={**form, "format": "csv"})).content
    assert csv_body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_body.decode("utf-8-sig"))))
    assert rows[1][1] == "'=HYPERLINK(1)" and [int(x) for x in rows[1][6:9]] == [57_600, 57_600, 0]
    assert rows[-1][0] == "합계" and int(rows[-1][6]) == api["total"] == 57_600
    xlsx = await client.post("/settlement/export", data={**form, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.freeze_panes == "A2"
    assert sheet.cell(row=2, column=2).value == "'=HYPERLINK(1)" and sheet.cell(row=2, column=7).value == 57_600
    assert "원" in sheet.cell(row=2, column=7).number_format
    assert sheet.cell(row=3, column=1).value == "합계" and sheet.cell(row=3, column=9).value == api["resident"]
    assert (await client.post("/settlement/export", data={"csrf_token": token, "month": month})).status_code == 400
