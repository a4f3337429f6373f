"""The access log: append-only, kept two years through the retention purge, reviewed monthly, named in Korean."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import access_log, retention
from care.auth import Access
from dolbom import clock
from dolbom.errors import PermissionDenied
from dolbom.i18n import gettext
from storage import audit
from storage.models import AccessLog, Operator
from tests.factories import make_district, make_resident

ROOT = Path(__file__).resolve().parents[2]


def _access(op: Operator, role: str = "admin") -> Access:
    return Access(operator_id=op.id, username=op.username, ip="10.0.0.1", district_id=op.district_id, role=role)


async def test_an_access_log_row_cannot_be_changed_or_deleted(session: AsyncSession) -> None:
    row = await audit.record(session, action="resident_view", username="kim", resident_id=1)
    row.detail = "nothing to see"
    with pytest.raises(audit.AccessLogIsAppendOnly):
        await session.flush()
    await session.rollback()
    row = await audit.record(session, action="resident_view", username="kim", resident_id=1)
    await session.delete(row)
    with pytest.raises(audit.AccessLogIsAppendOnly):
        await session.flush()


async def test_the_retention_purge_keeps_every_access_row_younger_than_two_years(session: AsyncSession) -> None:
    place = await make_district(session)
    old = clock.now() - timedelta(days=6 * 365)
    resident = await make_resident(session, place, last_active_at=old, created_at=old, updated_at=old)
    for days in (1, 400, 729):
        session.add(AccessLog(at=clock.now() - timedelta(days=days), action="resident_view", resident_id=resident.id))
    await session.flush()
    assert await retention.purge_due(session) == 1
    kept = (
        await session.execute(
            select(func.count()).where(AccessLog.resident_id == resident.id, AccessLog.action == "resident_view")
        )
    ).scalar_one()
    assert kept == 3
    assert audit.may_destroy_before() <= clock.now() - timedelta(days=730)


def test_every_action_written_anywhere_has_a_korean_name() -> None:
    written: set[str] = set()
    # action="x", or action="x" if ... else "y"
    pattern = re.compile(r"(?:audit\.record|\.log)\(\s*session,\s*action=([^,\n]+)")
    for package in ("care", "console", "bot", "jobs", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            for expression in pattern.findall(path.read_text(encoding="utf-8")):
                written.update(re.findall(r"\"([a-z_]+)\"", expression))
    assert {"resident_view", "queue_view", "resident_export", "chat_request"} <= written
    assert written - set(access_log.ACTIONS) == set()
    for action in access_log.ACTIONS:
        label = access_log.action_label(action)
        assert re.search(r"[가-힣]", label), (action, label)


async def _operator(session: AsyncSession, name: str, district_id: int | None, role: str = "operator") -> Operator:
    op = Operator(username=name, password_hash="x", role=role, district_id=district_id)
    session.add(op)
    await session.flush()
    return op


async def test_the_monthly_review_counts_per_operator_and_flags_unusual_volumes(session: AsyncSession) -> None:
    a = await make_district(session, name="마포구")
    b = await make_district(session, name="은평구")
    admin = await _operator(session, "admin-a", a.district_id, role="admin")
    quiet = [await _operator(session, f"op{i}", a.district_id) for i in range(3)]
    busy = await _operator(session, "busy", a.district_id)
    other = await _operator(session, "other", b.district_id)
    in_month = datetime(2026, 10, 15, 3, 0, tzinfo=UTC)

    def row(op: Operator, action: str, **kw: object) -> None:
        session.add(AccessLog(at=in_month, operator_id=op.id, username=op.username, action=action, **kw))  # type: ignore[arg-type]

    for op in quiet:
        for _ in range(20):
            row(op, "resident_view", resident_id=1, row_count=1)
    for _ in range(30):
        row(busy, "resident_list", resident_ids=list(range(50)), row_count=50)  # 1,500 residents looked at
    row(quiet[0], "resident_export", resident_ids=list(range(150)), row_count=150, reason="구청 보고")
    row(quiet[1], "denied_other_district", detail="resident 9 GET /residents/9")
    row(other, "resident_list", resident_ids=list(range(50)), row_count=50)
    session.add(
        AccessLog(at=in_month - timedelta(days=60), operator_id=busy.id, username="busy", action="resident_view")
    )
    await session.flush()

    review = await access_log.monthly_review(session, access=_access(admin), month=date(2026, 10, 1))
    by_name = {o.username: o for o in review.operators}
    assert "other" not in by_name  # another district's operator is not this admin's to review
    assert by_name["busy"].counts == {"resident_list": 30} and by_name["busy"].looks == 1500
    assert by_name["busy"].flags and "1500" in by_name["busy"].flags[0]
    assert any("150" in f and "구청 보고" in f for f in by_name["op0"].flags)
    assert any("resident 9" in f for f in by_name["op1"].flags)
    assert by_name["op2"].flags == []
    assert review.operators[0].username in ("busy", "op0", "op1")
    # The rule is stated on the page in Korean.
    rule = gettext(access_log.MSG_UNUSUAL_RULE, factor=3, floor=200, export=100)
    assert "중앙값" in rule


async def test_only_admins_read_the_access_log(session: AsyncSession) -> None:
    place = await make_district(session)
    op = await _operator(session, "kim", place.district_id)
    with pytest.raises(PermissionDenied):
        await access_log.monthly_review(session, access=_access(op, role="operator"), month=date(2026, 10, 1))
    with pytest.raises(PermissionDenied):
        await access_log.list_rows(session, access=_access(op, role="viewer"))
