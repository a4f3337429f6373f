"""모니터링 (seed 004): checklist, planned inspections, results, follow-ups, sharing — and district isolation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from care import monitoring
from care.auth import Access
from care.residents import OutOfDistrict
from dolbom import clock
from dolbom.errors import InvalidInput, NotFound, PermissionDenied, ReasonRequired, RuleViolation
from storage.db import Database
from storage.models import AccessLog, ChannelBinding, Inspection, InspectionResult, Outbox
from tests import factories
from tests.storage.pausing import Pause


def _access(district_id: int | None, role: str = "operator") -> Access:
    return Access(operator_id=None, username=f"{role}-{district_id}", ip="10.0.0.1", district_id=district_id, role=role)


async def _world(db: Database) -> dict[str, Any]:
    async with db.transaction() as s:
        mapo = await factories.make_district(s)
        other = await factories.make_district(s, name="은평구")
        provider = await factories.make_provider(s, mapo, name="마포돌봄협동조합")
        stranger = await factories.make_provider(s, other, name="은평나눔")
        admin = _access(mapo.district_id, "admin")
        items = [
            await monitoring.add_item(s, access=admin, district_id=None, text=text)
            for text in ("사업 지침 준수", "본인부담금 수납 기록", "부정결제 여부")
        ]
        foreign = await monitoring.add_item(
            s, access=_access(other.district_id, "admin"), district_id=None, text="남의 항목"
        )
    return {
        "mapo": mapo,
        "other": other,
        "provider": provider,
        "stranger": stranger,
        "items": items,
        "foreign": foreign,
    }


async def _logged(db: Database, action: str) -> int:
    async with db.sessions() as s:
        return len((await s.execute(select(AccessLog).where(AccessLog.action == action))).scalars().all())


async def test_a_regular_and_an_adhoc_inspection_from_plan_to_shared_results(db: Database) -> None:
    w = await _world(db)
    mapo, provider, items = w["mapo"], w["provider"], w["items"]
    desk = _access(mapo.district_id)
    today = clock.today()
    async with db.transaction() as s:
        regular = await monitoring.plan(
            s, access=desk, provider_id=provider.id, kind="regular", planned_on=today - timedelta(days=1)
        )
        with pytest.raises(ReasonRequired):
            await monitoring.plan(s, access=desk, provider_id=provider.id, kind="adhoc", planned_on=today)
        adhoc = await monitoring.plan(
            s, access=desk, provider_id=provider.id, kind="adhoc", planned_on=today, reason="부정결제 신고 접수"
        )
        assert adhoc.reason == "부정결제 신고 접수"
        binding = ChannelBinding(channel="telegram", user_key="staff-1", role="provider_staff", provider_id=provider.id)
        s.add(binding)
        await s.flush()
    assert regular.id is not None
    async with db.transaction() as s:
        with pytest.raises(RuleViolation):  # nothing recorded yet: nothing to share
            await monitoring.share(s, access=desk, inspection_id=regular.id)
    async with db.transaction() as s:
        await monitoring.record_results(
            s,
            access=desk,
            inspection_id=regular.id,
            done_on=today - timedelta(days=1),
            results={
                items[0].id: ("pass", None),
                items[1].id: ("fail", "3건 수납 기록 없음"),
                items[2].id: ("na", None),
            },
            summary="다음 달에 다시 확인해요.",
        )
        await monitoring.add_followup(
            s, access=desk, inspection_id=regular.id, text="수납 기록 보완", due_on=today + timedelta(days=14)
        )
    async with db.transaction() as s:
        view = await monitoring.get(s, access=desk, inspection_id=regular.id)
        assert view.inspection.status == "done" and view.counts == {"pass": 1, "fail": 1, "na": 1}
        assert view.contacts == 1
        sent = await monitoring.share(s, access=desk, inspection_id=regular.id)
        assert sent == 1
    async with db.sessions() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.kind == "monitoring_result"))).scalars().all()
        assert [(r.chat_id, r.district_id, r.ref) for r in rows] == [
            ("staff-1", mapo.district_id, f"inspection:{regular.id}")
        ]
        text = rows[0].text
        for words in (
            "마포돌봄협동조합",
            "본인부담금 수납 기록: 3건 수납 기록 없음",
            "수납 기록 보완",
            "다음 달에 다시 확인해요.",
        ):
            assert words in text, words
        shared = await s.get(Inspection, regular.id)
        assert shared is not None and shared.shared_at is not None and shared.shared_to == 1
    for action in (
        "monitoring_checklist",
        "monitoring_plan",
        "monitoring_results",
        "monitoring_followup",
        "monitoring_share",
    ):
        assert await _logged(db, action) >= 1, action


async def test_a_retired_item_keeps_its_past_results_and_is_no_longer_asked(db: Database) -> None:
    w = await _world(db)
    mapo, provider, items = w["mapo"], w["provider"], w["items"]
    desk, admin = _access(mapo.district_id), _access(mapo.district_id, "admin")
    async with db.transaction() as s:
        first = await monitoring.plan(s, access=desk, provider_id=provider.id, kind="regular", planned_on=clock.today())
        await monitoring.record_results(
            s, access=desk, inspection_id=first.id, done_on=clock.today(), results={items[2].id: ("fail", "의심 1건")}
        )
        await monitoring.update_item(
            s, access=admin, item_id=items[2].id, text="부정결제 의심 사례", position=9, active=False
        )
        later = await monitoring.plan(s, access=desk, provider_id=provider.id, kind="regular", planned_on=clock.today())
    async with db.transaction() as s:
        old = await monitoring.get(s, access=desk, inspection_id=first.id)
        kept = [line for line in old.lines if line.item_id == items[2].id]
        assert [(x.text, x.verdict, x.retired) for x in kept] == [("부정결제 여부", "fail", True)]
        new = await monitoring.get(s, access=desk, inspection_id=later.id)
        assert [line.text for line in new.lines] == ["사업 지침 준수", "본인부담금 수납 기록"]
        listed = await monitoring.list_checklist(s, access=admin)
        assert [(i.text, i.active) for i in listed][-1] == ("부정결제 의심 사례", False)
        result = (
            await s.execute(select(InspectionResult).where(InspectionResult.inspection_id == first.id))
        ).scalar_one()
        assert result.item_text == "부정결제 여부"


async def test_overdue_follow_ups_are_listed_and_closing_one_takes_it_off(db: Database) -> None:
    w = await _world(db)
    mapo, provider = w["mapo"], w["provider"]
    desk = _access(mapo.district_id)
    today = clock.today()
    async with db.transaction() as s:
        inspection = await monitoring.plan(s, access=desk, provider_id=provider.id, kind="regular", planned_on=today)
        late = await monitoring.add_followup(
            s, access=desk, inspection_id=inspection.id, text="인력 교육 이수증 제출", due_on=today - timedelta(days=3)
        )
        await monitoring.add_followup(
            s, access=desk, inspection_id=inspection.id, text="서식 보완", due_on=today + timedelta(days=3)
        )
    async with db.transaction() as s:
        board = await monitoring.board(s, access=desk)
        assert [(o.action.text, o.days_late, o.provider_name) for o in board.overdue] == [
            ("인력 교육 이수증 제출", 3, "마포돌봄협동조합")
        ]
        assert [(r.open_followups, r.overdue_followups) for r in board.rows] == [(2, 1)]
        # Another district's desk sees none of it.
        theirs = await monitoring.board(s, access=_access(w["other"].district_id))
        assert theirs.rows == [] and theirs.overdue == []
    async with db.transaction() as s:
        await monitoring.close_followup(s, access=desk, action_id=late.id, note="제출 확인")
        again = await monitoring.close_followup(s, access=desk, action_id=late.id, note="두 번째")
        assert again.done_note == "제출 확인"
    async with db.transaction() as s:
        assert (await monitoring.board(s, access=desk)).overdue == []


async def test_another_district_can_neither_see_nor_change_and_forged_ids_are_refused(db: Database) -> None:
    w = await _world(db)
    mapo, other, provider, stranger, items = w["mapo"], w["other"], w["provider"], w["stranger"], w["items"]
    desk, theirs = _access(mapo.district_id), _access(other.district_id, "admin")
    today = clock.today()
    async with db.transaction() as s:
        inspection = await monitoring.plan(s, access=desk, provider_id=provider.id, kind="regular", planned_on=today)
        action = await monitoring.add_followup(s, access=desk, inspection_id=inspection.id, text="보완", due_on=today)
    attempts = [
        lambda s: monitoring.get(s, access=theirs, inspection_id=inspection.id),
        lambda s: monitoring.board(s, access=theirs, provider_id=provider.id),
        lambda s: monitoring.plan(s, access=theirs, provider_id=provider.id, kind="regular", planned_on=today),
        lambda s: monitoring.record_results(
            s, access=theirs, inspection_id=inspection.id, done_on=today, results={items[0].id: ("pass", None)}
        ),
        lambda s: monitoring.add_followup(s, access=theirs, inspection_id=inspection.id, text="x", due_on=today),
        lambda s: monitoring.close_followup(s, access=theirs, action_id=action.id),
        lambda s: monitoring.share(s, access=theirs, inspection_id=inspection.id),
        lambda s: monitoring.update_item(s, access=theirs, item_id=items[0].id, text="x", position=1, active=False),
        # Our desk names another district's provider when planning: refused the same way.
        lambda s: monitoring.plan(s, access=desk, provider_id=stranger.id, kind="regular", planned_on=today),
    ]
    for attempt in attempts:
        with pytest.raises(OutOfDistrict):
            async with db.transaction() as s:
                await attempt(s)
    # Another district's checklist item slipped into our results: refused, nothing recorded.
    with pytest.raises(NotFound):
        async with db.transaction() as s:
            await monitoring.record_results(
                s, access=desk, inspection_id=inspection.id, done_on=today, results={w["foreign"].id: ("pass", None)}
            )
    async with db.sessions() as s:
        assert (await s.execute(select(InspectionResult))).first() is None
        kept = await s.get(Inspection, inspection.id)
        assert kept is not None and kept.status == "planned"


async def test_roles_and_answers_that_do_not_fit(db: Database) -> None:
    w = await _world(db)
    mapo, provider, items = w["mapo"], w["provider"], w["items"]
    viewer, desk = _access(mapo.district_id, "viewer"), _access(mapo.district_id)
    today = clock.today()
    with pytest.raises(PermissionDenied):
        async with db.transaction() as s:
            await monitoring.plan(s, access=viewer, provider_id=provider.id, kind="regular", planned_on=today)
    with pytest.raises(PermissionDenied):
        async with db.transaction() as s:
            await monitoring.add_item(s, access=desk, district_id=None, text="운영자는 점검표를 못 고쳐요")
    with pytest.raises(InvalidInput):  # the all-district admin must say which district's checklist
        async with db.transaction() as s:
            await monitoring.add_item(s, access=_access(None, "admin"), district_id=None, text="항목")
    async with db.transaction() as s:
        inspection = await monitoring.plan(s, access=desk, provider_id=provider.id, kind="regular", planned_on=today)
    for kwargs in (
        {"done_on": today, "results": {items[0].id: ("great", None)}},
        {"done_on": today + timedelta(days=1), "results": {items[0].id: ("pass", None)}},
        {"done_on": None, "results": {items[0].id: ("pass", None)}},
        {"done_on": today, "results": {}},
    ):
        with pytest.raises(InvalidInput):
            async with db.transaction() as s:
                await monitoring.record_results(s, access=desk, inspection_id=inspection.id, **kwargs)  # type: ignore[arg-type]


async def test_a_provider_with_nobody_on_the_bot_cannot_be_sent_the_results(db: Database) -> None:
    w = await _world(db)
    mapo, provider, items = w["mapo"], w["provider"], w["items"]
    desk = _access(mapo.district_id)
    async with db.transaction() as s:
        inspection = await monitoring.plan(
            s, access=desk, provider_id=provider.id, kind="regular", planned_on=clock.today()
        )
        await monitoring.record_results(
            s, access=desk, inspection_id=inspection.id, done_on=clock.today(), results={items[0].id: ("pass", None)}
        )
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await monitoring.share(s, access=desk, inspection_id=inspection.id)
    # A revoked staff account is nobody either.
    async with db.transaction() as s:
        s.add(
            ChannelBinding(
                channel="telegram",
                user_key="gone",
                role="provider_staff",
                provider_id=provider.id,
                revoked_at=clock.now(),
            )
        )
    with pytest.raises(RuleViolation):
        async with db.transaction() as s:
            await monitoring.share(s, access=desk, inspection_id=inspection.id)
    async with db.sessions() as s:
        assert (await s.execute(select(Outbox))).first() is None


def _writing_results(statement: str) -> bool:
    return statement.lstrip().upper().startswith("INSERT INTO INSPECTION_RESULTS")


async def test_two_people_saving_results_at_once_both_succeed_and_the_later_answers_stand(db: Database) -> None:
    w = await _world(db)
    mapo, provider, items = w["mapo"], w["provider"], w["items"]
    desk = _access(mapo.district_id)
    async with db.transaction() as s:
        inspection = await monitoring.plan(
            s, access=desk, provider_id=provider.id, kind="regular", planned_on=clock.today()
        )

    def saving(verdict: str, note: str) -> Any:
        async def step(s: Any) -> Any:
            return await monitoring.record_results(
                s, access=desk, inspection_id=inspection.id, done_on=clock.today(),
                results={items[0].id: (verdict, note), items[1].id: (verdict, note)},
            )  # fmt: skip

        return step

    # The first stops between clearing the old answers and writing its own, and the second runs
    # meanwhile: without a lock the second's rows land in that gap (it commits) and the first's
    # INSERT breaks on the key. With the lock the second waits, then replaces the first's answers.
    # (tests.care.test_races.race expects PostgreSQL to finish the second first, which a lock held
    # across the gap does not do; so the two sessions are run by hand here.)
    pause = Pause(_writing_results, patience=10.0)

    async def run(step: Any, pause: Pause | None = None) -> Any:
        try:
            async with db.transaction() as s:
                if pause is not None:
                    await pause.attach(s)
                return await step(s)
        except Exception as exc:  # the outcome the test checks
            return exc

    first = asyncio.create_task(run(saving("pass", "첫 번째"), pause))
    await asyncio.wait_for(pause.reached.wait(), 10)
    second = asyncio.create_task(run(saving("fail", "두 번째")))
    await asyncio.sleep(1.0)  # the second gets as far as it can while the first is held
    pause.go.set()
    results = (await first, await second)
    assert pause.happened and all(isinstance(r, Inspection) for r in results), results
    later = ("fail", "두 번째")
    async with db.sessions() as s:
        rows = (
            (await s.execute(select(InspectionResult).where(InspectionResult.inspection_id == inspection.id)))
            .scalars()
            .all()
        )
    assert sorted((r.item_id, r.verdict, r.note) for r in rows) == sorted((i.id, *later) for i in items[:2])


async def test_a_district_without_a_checklist_starts_from_the_usual_items_once(db: Database) -> None:
    async with db.transaction() as s:
        fresh = await factories.make_district(s, name="서대문구")
        other = await factories.make_district(s, name="종로구")
    admin = _access(fresh.district_id, "admin")
    async with db.transaction() as s:
        with pytest.raises(PermissionDenied):  # an operator cannot
            await monitoring.add_defaults(s, access=_access(fresh.district_id), district_id=None)
    async with db.transaction() as s:
        # A district admin naming another district gets their own.
        assert await monitoring.add_defaults(s, access=admin, district_id=other.district_id) == fresh.district_id
    async with db.transaction() as s:
        items = await monitoring.list_checklist(s, access=admin)
        assert [i.text for i in items] == [
            "사업 지침을 지키고 있다",
            "기록된 서비스 시간과 실제 제공이 맞다",
            "정해진 방식으로 결제하고, 부정결제 흔적이 없다",
            "본인부담금 수납과 환급을 기록하고 이용자에게 설명했다",
            "민원을 기록하고 처리했다",
            "개인정보를 안전하게 보관한다(서류와 화면)",
        ]
        assert await monitoring.list_checklist(s, access=_access(other.district_id, "admin")) == []
    async with db.transaction() as s:
        with pytest.raises(RuleViolation):  # pressed again: nothing doubled
            await monitoring.add_defaults(s, access=admin, district_id=None)
    async with db.sessions() as s:
        assert len(await monitoring.list_checklist(s, access=admin)) == 6
