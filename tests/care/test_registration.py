"""New providers wait for their pre-registration consulting (seed 004): no path gives them an order before it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from care import directory, orders, queue, registration
from care.auth import Access
from dolbom import clock
from dolbom.errors import InvalidInput, NoProviderAvailable, NotFound, PermissionDenied, RuleViolation
from storage.db import Database
from storage.models import AccessLog, Assignment, Order, Provider
from tests import factories
from tests.factories import DESK


def _access(district_id: int | None, role: str = "operator") -> Access:
    return Access(operator_id=None, username=f"{role}-{district_id}", ip="10.0.0.1", district_id=district_id, role=role)


async def _world(db: Database) -> dict[str, Any]:
    """A district with a registered lead, a pending provider in the same region, and two screened orders."""
    async with db.transaction() as s:
        place = await factories.make_district(s)
        other = await factories.make_district(s, name="은평구")
        lead = await factories.make_provider(s, place, name="마포돌봄협동조합", is_lead=True)
        new = await factories.make_provider(s, place, name="새봄돌봄", registration="pending")
        resident = await factories.make_resident(s, place)
        screened = []
        for _ in range(2):
            order = await factories.make_order(s, resident)
            screened.append(await orders.screen(s, order_id=order.id, actor=DESK))  # type: ignore[arg-type]
    return {"place": place, "other": other, "lead": lead, "new": new, "orders": screened}


async def _assignments(db: Database, provider_id: int) -> int:
    async with db.sessions() as s:
        q = select(func.count()).select_from(Assignment).where(Assignment.provider_id == provider_id)
        return int((await s.execute(q)).scalar_one())


async def test_a_pending_provider_cannot_be_given_an_order_by_any_path(db: Database) -> None:
    w = await _world(db)
    place, new, lead = w["place"], w["new"], w["lead"]
    first, second = w["orders"]
    access = _access(place.district_id)

    # 1. the service call every path ends in
    with pytest.raises(RuleViolation) as raised:
        async with db.transaction() as s:
            await orders.assign(s, order_id=first.id, provider_id=new.id, actor=DESK)
    assert raised.value.msgid == registration.MSG_PENDING
    # 2. the order page's assign (and the API's, which shares queue.act)
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await queue.act(
                s,
                access=access,
                order_id=first.id,
                action="assign",
                actor=DESK,
                expected_version=first.version,
                provider_id=new.id,
            )
    # 3. ticked orders assigned together: the whole batch is refused
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await queue.assign_many(s, access=access, order_ids=[first.id, second.id], provider_id=new.id, actor=DESK)
    # 4. the override ("another provider on purpose, with a reason") does not open the door either
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await queue.act(
                s,
                access=access,
                order_id=first.id,
                action="assign",
                actor=DESK,
                expected_version=first.version,
                provider_id=new.id,
                override=True,
                reason="급해서",
            )
    # 5. reassignment from the lead to the pending provider
    async with db.transaction() as s:
        await orders.assign(s, order_id=first.id, provider_id=lead.id, actor=DESK)
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await orders.reassign(s, order_id=first.id, provider_id=new.id, reason="인력 부족", actor=DESK)
    assert await _assignments(db, new.id) == 0
    async with db.sessions() as s:
        still = await s.get(Order, second.id)
        assert still is not None and still.status == "screening", "nothing of the refused batch stayed"


async def test_a_pending_provider_is_never_proposed_and_the_order_page_marks_it(db: Database) -> None:
    w = await _world(db)
    place, new, lead = w["place"], w["new"], w["lead"]
    order = w["orders"][0]
    async with db.transaction() as s:
        proposal = await orders.propose(s, order_id=order.id)
        assert proposal.provider_id == lead.id
        page = await queue.order_page(s, order_id=order.id, access=_access(place.district_id))
        assert {c.provider_id: c.registered for c in page.candidates} == {lead.id: True, new.id: False}
        assert page.proposal is not None and page.proposal.provider_id == lead.id
        # The lead full this week: the pending one has room, and is still not proposed; the desk is told why.
        full = await s.get(Provider, lead.id)
        assert full is not None
        full.weekly_capacity = 0
        s.add(full)
        await s.flush()
        with pytest.raises(NoProviderAvailable):
            await orders.propose(s, order_id=order.id)
        # The lead paused: the only provider left waits for registration, and that is the reason given.
        full.weekly_capacity, full.active = 20, False
        s.add(full)
        await s.flush()
        with pytest.raises(NoProviderAvailable) as raised:
            await orders.propose(s, order_id=order.id)
        assert raised.value.params["reason"] == "every provider in this region is waiting for registration"


async def test_recording_the_consulting_makes_it_assignable_and_is_logged(db: Database) -> None:
    w = await _world(db)
    place, new = w["place"], w["new"]
    order = w["orders"][0]
    admin = _access(place.district_id, role="admin")
    async with db.transaction() as s:
        row = await registration.record_consulting(
            s,
            access=admin,
            provider_id=new.id,
            consulted_on=clock.today() - timedelta(days=3),
            consultant="지원단 김상담",
            note="등록 절차와 표준안을 안내함",
        )
        assert row.id is not None
    async with db.transaction() as s:
        provider = await s.get(Provider, new.id)
        assert provider is not None and provider.registration == registration.REGISTERED
        consulting = await registration.get_consulting(s, provider_id=new.id)
        assert consulting is not None and consulting.consultant == "지원단 김상담"
        await orders.assign(s, order_id=order.id, provider_id=new.id, actor=DESK)
    assert await _assignments(db, new.id) == 1
    async with db.sessions() as s:
        logged = (await s.execute(select(AccessLog).where(AccessLog.action == "provider_consulting"))).scalars().all()
        assert [r.username for r in logged] == [admin.username]


async def test_another_district_or_a_non_admin_cannot_record_the_consulting(db: Database) -> None:
    w = await _world(db)
    place, other, new = w["place"], w["other"], w["new"]
    day = clock.today()
    for who, error in (
        (_access(other.district_id, role="admin"), NotFound),
        (_access(other.district_id), NotFound),
        (_access(place.district_id), PermissionDenied),
        (_access(place.district_id, role="viewer"), PermissionDenied),
    ):
        with pytest.raises(error):
            async with db.transaction() as s:
                await registration.record_consulting(
                    s, access=who, provider_id=new.id, consulted_on=day, consultant="남의 구"
                )
    for kwargs in ({"consulted_on": None, "consultant": "김상담"}, {"consulted_on": day, "consultant": " "}):
        with pytest.raises(InvalidInput):
            async with db.transaction() as s:
                await registration.record_consulting(
                    s, access=_access(place.district_id, "admin"), provider_id=new.id, **kwargs
                )  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        async with db.transaction() as s:
            await registration.record_consulting(
                s,
                access=_access(place.district_id, "admin"),
                provider_id=new.id,
                consulted_on=day + timedelta(days=1),
                consultant="김상담",
            )
    async with db.sessions() as s:
        provider = await s.get(Provider, new.id)
        assert provider is not None and provider.registration == registration.PENDING
        assert await registration.get_consulting(s, provider_id=new.id) is None


async def test_a_provider_added_in_the_console_waits_and_existing_ones_do_not(db: Database) -> None:
    async with db.transaction() as s:
        place = await factories.make_district(s)
        existing = await factories.make_provider(s, place)
        added = await directory.create_provider(
            s,
            access=_access(place.district_id, "admin"),
            district_id=place.district_id,
            name="새봄돌봄",
            kind="cooperative",
        )
        assert existing.registration == registration.REGISTERED
        assert added.registration == registration.PENDING


async def test_providers_imported_from_the_district_workbook_are_registered(db: Database) -> None:
    from care import workbook
    from tests import workbooks

    async with db.transaction() as s:
        await workbook.import_workbook(s, access=_access(None, "admin"), data=workbooks.new_district())
    async with db.sessions() as s:
        states = {p.registration for p in (await s.execute(select(Provider))).scalars()}
    assert states == {registration.REGISTERED}
