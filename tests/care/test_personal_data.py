"""Issue 9 §7: forgetting really forgets. One registry of every column that can hold personal data;
the retention purge goes through it; afterwards no column of any table holds the name, phone or address.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlmodel import col

from care import checkins, complaints, entitlements, intake, orders, personal_data, provider_tasks
from care.actors import Actor
from care.auth import Access
from dolbom import clock
from dolbom.settings import get_settings
from storage import audit, models, outbox
from storage.db import Database
from storage.models import (
    Conversation,
    DeskMessage,
    DeskNotice,
    Referral,
    Resident,
    Survey,
)
from storage.types import is_text_type
from tests import factories
from tests.factories import DESK
from tests.jobs.helpers import add_care_manager, add_family, seoul

NAME = "홍길순"
PHONE = "+821087654321"
PHONE_FORMS = (PHONE, "010-8765-4321", "01087654321", "8765-4321")
ADDRESS = "망원로 77-5 은하빌라 301호"
OTHER_NAME = "윤봉례"
CHAT, FAMILY_CHAT = "7719001", "7719002"  # the resident's and the daughter's messenger accounts
FAMILY_PHONE_FORMS = ("+821022223333", "010-2222-3333", "2222-3333")


def test_every_text_and_json_column_is_in_the_registry_or_named_as_not_personal() -> None:
    registry = personal_data.registry()
    unknown, both = [], []
    for table in models.metadata.sorted_tables:
        for column in table.columns:
            if not is_text_type(column.type):
                continue
            key = (table.name, column.name)
            if key not in registry and key not in personal_data.NOT_PERSONAL:
                unknown.append(".".join(key))
            if key in registry and key in personal_data.NOT_PERSONAL:
                both.append(".".join(key))
    assert unknown == [], "say in care.personal_data whether these hold personal data and how they are purged"
    assert both == []


def test_every_registry_entry_names_a_real_column_and_the_purge_can_find_its_rows() -> None:
    for entry in personal_data.PERSONAL:
        assert entry.column in models.metadata.tables[entry.table].columns, entry
        if entry.owner == "resident":
            assert entry.purge != "keep" and entry.table in personal_data.ROWS, entry


async def _hits(db: Database, needles: tuple[str, ...]) -> list[str]:
    """Every (table.column) whose value holds one of the needles, over every column of every table."""
    found = []
    async with db.sessions() as s:
        for table in models.metadata.sorted_tables:
            for row in (await s.execute(select(table))).mappings().all():
                for column, value in row.items():
                    text = json.dumps(value, ensure_ascii=False, default=str)
                    found.extend(f"{table.name}.{column}: {n}" for n in needles if n in text)
    return found


async def _fill_every_table_for_one_resident(db: Database) -> tuple[int, factories.Place]:
    """Use the real services wherever one exists; return the resident's id and the district."""
    async with db.transaction() as s:
        place = await factories.make_district(s)
        provider = await factories.make_provider(s, place, is_lead=True)
        provider.contact_channel, provider.contact_user_key = "telegram", "8001"
        s.add(provider)
        manager = await add_care_manager(s, place, "8002")
        order = await intake.submit(
            s,
            request=intake.IntakeRequest(
                district_id=place.district_id,
                service_code="meals",
                name=NAME,
                phone=PHONE,
                dong_id=place.dongs[0].id,
                address=ADDRESS,
                birth_year=1941,
                notes=f"{NAME} 어르신 댁은 {ADDRESS}, 연락은 010-8765-4321",
                details={"address": ADDRESS, "who": NAME},
                consent=True,
            ),
            channel="telegram",
            user_key=CHAT,
            actor=Actor(kind="resident", name=NAME, channel="telegram"),
        )
        resident = await s.get(Resident, order.resident_id)
        assert resident is not None and resident.id is not None
        rid = resident.id
        await add_family(s, resident, FAMILY_CHAT, phone="+821022223333")
        s.add(Referral(care_manager_id=manager.id, resident_id=rid, notes=f"{NAME} 님, {ADDRESS}"))  # type: ignore[arg-type]
        await orders.screen(s, order_id=order.id, actor=DESK)  # type: ignore[arg-type]
        await entitlements.decide(
            s,
            resident_id=rid,
            access=Access(
                operator_id=None, username="김창구", ip=None, district_id=resident.district_id, role="operator"
            ),
            eligible=True,
            ground="elderly",
            situations=["no_family_care"],
            income_tier="basic",
            valid_from=clock.local_now().date(),
            note=f"{NAME} 님 댁 {ADDRESS}, 010-8765-4321",
        )
        await entitlements.choose_funding(
            s,
            order_id=order.id,  # type: ignore[arg-type]
            access=Access(
                operator_id=None, username="김창구", ip=None, district_id=resident.district_id, role="operator"
            ),
            funding="pay_excess",
            consent_note=f"{NAME} 님이 010-8765-4321로 통화하며 동의",
        )
        assignment = await orders.assign(
            s,
            order_id=order.id,
            provider_id=provider.id,
            actor=DESK,
            note=f"{NAME} 님 댁 {ADDRESS}",  # type: ignore[arg-type]
        )
        await provider_tasks.decline(
            s,
            provider_id=provider.id,  # type: ignore[arg-type]
            assignment_id=assignment.id,  # type: ignore[arg-type]
            reason_code="other",
            text=f"{NAME} 님 주소 {ADDRESS} 을 못 찾았어요",
            actor=Actor(kind="provider", id=provider.id, name=provider.name, channel="telegram"),
        )
        await orders.cancel(s, order_id=order.id, reason=f"{NAME} 님 본인 취소 (010-8765-4321)", actor=DESK)  # type: ignore[arg-type]
        # A request taken by phone, refused: the desk's 전화 안내 list carries the reason as typed.
        by_phone = await factories.make_order(s, resident)
        await orders.reject(s, order_id=by_phone.id, reason=f"{NAME} 님 주소 {ADDRESS} 확인 필요", actor=DESK)  # type: ignore[arg-type]
        s.add(Survey(order_id=order.id, channel="telegram", chat_id=CHAT, comment=f"{NAME}입니다. 고마워요"))  # type: ignore[arg-type]
        s.add(
            models.Visit(
                district_id=place.district_id,
                order_id=order.id,  # type: ignore[arg-type]
                resident_id=rid,
                day=clock.local_now().date(),
                kind="no_show",
                reason=f"{NAME} 님 부재, {ADDRESS} 문 잠김",
            )
        )
        # A correction of a closed month and a refund on her statement, their reasons telling her situation.
        s.add(
            models.SettlementAdjustment(
                district_id=place.district_id, year=2024, month=2, day=clock.local_now().date(), original_year=2024,
                original_month=1, order_id=order.id, resident_id=rid, service_code="meals",
                reason=f"{NAME} 님 {ADDRESS} 부재로 1식 정정",
            )  # type: ignore[arg-type]
        )  # fmt: skip
        s.add(
            models.CopayPayment(
                district_id=place.district_id, resident_id=rid, year=2024, month=1, kind="refund",
                day=clock.local_now().date(), amount=7_200, method="transfer", reason=f"{NAME} 님 요청으로 환급",
            )
        )  # fmt: skip
        s.add(
            models.BillingCheckResolution(
                district_id=place.district_id,
                resident_id=rid,
                flag_key=f"over_plan:{order.id}",
                fingerprint="0" * 32,
                note=f"{NAME} 님 010-8765-4321 통화로 확인",
                resolved_by_name="mapo",
            )
        )
        s.add(
            DeskNotice(
                district_id=place.district_id, kind="assignment_expired", order_id=order.id, title=NAME, body=ADDRESS
            )
        )
        s.add(Conversation(channel="telegram", user_key=CHAT, state={"a": {"name": NAME, "phone": PHONE}}))
        # A complaint about her order, with a step and an outcome, through the service.
        desk_access = Access(
            operator_id=None, username="김창구", ip=None, district_id=resident.district_id, role="operator"
        )
        complaint = await complaints.create_complaint(
            s,
            access=desk_access,
            category="unkind",
            what_happened=f"{NAME} 님({ADDRESS})이 배달원이 불친절했다고 하심",
            steps_taken=f"{NAME} 님께 010-8765-4321로 다시 전화함",
            order_id=order.id,
        )
        await complaints.close_complaint(
            s,
            access=desk_access,
            complaint_id=complaint.id,
            outcome=f"{NAME} 님께 사과드림",  # type: ignore[arg-type]
        )
        await intake.post_to_desk(s, channel="telegram", user_key=CHAT, text=f"저 {NAME}인데요, {ADDRESS}예요")
        thread_id = (await s.execute(select(DeskMessage.thread_id))).scalar_one()
        s.add(DeskMessage(thread_id=thread_id, direction="out", text=f"{NAME} 어르신, 곧 전화드릴게요"))
        await audit.record(s, action="view_resident", resident_id=rid, username="mapo", detail=f"{NAME} {PHONE}")
        await outbox.enqueue(
            s,
            district_id=place.district_id,
            channel="telegram",
            chat_id="8002",
            text=f"{NAME} 님 {ADDRESS}",
            resident_id=rid,
        )
        await checkins.set_schedule(s, resident_id=rid, weekdays=list(range(7)), at_minute=600)
        # Her last message, handled but its answer not yet sent when the purge comes.
        s.add(
            models.Inbound(
                bot_id=1,
                update_id=77,
                chat_id=CHAT,
                kind="message",
                payload={"message": {"chat": {"id": int(CHAT)}, "text": f"{NAME}, {ADDRESS}"}},
                status="handled",
                answer=[{"text": f"{NAME} 님, 주소 {ADDRESS} 맞으세요?"}],
            )
        )
        # She shared her own contact, and the desk confirmed her family: check-ins and alerts reach them.
        await s.execute(
            update(models.ResidentChannel)
            .where(col(models.ResidentChannel.resident_id) == rid)
            .values(verified_at=clock.now(), verified_how="telegram_contact")
        )
        await s.execute(
            update(models.FamilyContact)
            .where(col(models.FamilyContact.resident_id) == rid)
            .values(verified_at=clock.now())
        )
        return rid, place


async def _checkins_with_alerts(db: Database, rid: int) -> None:
    clock.set_now(seoul(2024, 1, 11, 10, 0))
    async with db.transaction() as s:
        await checkins.dispatch_due(s)
    clock.advance(timedelta(hours=2, minutes=1))
    async with db.transaction() as s:
        await checkins.escalate_due(s)  # the family is told, by name
    async with db.transaction() as s:
        slot = (await s.execute(select(models.CheckinSlot).where(models.CheckinSlot.resident_id == rid))).scalar_one()
        await checkins.answer(s, slot_id=slot.id, answer="ok", channel="telegram", user_key=CHAT)  # type: ignore[arg-type]


async def test_the_purge_leaves_no_name_phone_or_address_in_any_column_of_any_table(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import tasks

    monkeypatch.setattr(get_settings(), "retention_days", 365)
    clock.set_now(seoul(2024, 1, 10, 9, 0))
    rid, place = await _fill_every_table_for_one_resident(db)
    await _checkins_with_alerts(db, rid)
    async with db.transaction() as s:
        await checkins.stop(s, resident_id=rid)

    needles = (NAME, ADDRESS, *PHONE_FORMS, CHAT, FAMILY_CHAT, *FAMILY_PHONE_FORMS)
    before = await _hits(db, needles)
    filled = {hit.split(":")[0].split(".")[0] for hit in before}
    # The arrangement really put the person everywhere the registry says they can be.
    resident_tables = {e.table for e in personal_data.PERSONAL if e.owner == "resident"} - {"checkin_schedules"}
    assert resident_tables - filled == set(), sorted(resident_tables - filled)

    clock.set_now(seoul(2025, 2, 20, 9, 0))
    async with db.transaction() as s:  # somebody still served by the desk
        other = await factories.make_resident(s, place, name=OTHER_NAME, phone="+821033334444")
        other_id = other.id
    assert await tasks.retention_purge(db) == 1

    after = await _hits(db, needles)
    assert after == [], after
    assert await _hits(db, (OTHER_NAME,)) != []  # somebody else is not forgotten
    async with db.sessions() as s:
        gone = await s.get(Resident, rid)
        assert gone is not None and gone.purged_at is not None
        assert (await s.get(Resident, other_id)).purged_at is None  # type: ignore[union-attr]
    if db.is_sqlite:
        await db.dispose()
        path = Path(make_url(db.url).database or "")
        for f in (path, path.with_name(path.name + "-wal")):
            raw = f.read_bytes() if f.exists() else b""
            for needle in (NAME, ADDRESS, "8765-4321", "87654321"):
                assert needle.encode() not in raw, f"{needle} still readable in {f.name}"
