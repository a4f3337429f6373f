"""The resident page's 돌봄SOS decision and the order page's entitlement line, through the console."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from storage.db import Database
from storage.models import AccessLog, EligibilityDecision, EntitlementEntry
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
