"""`dolbom demo --scale`: a made-up Seoul by bulk load — consistent rows the desk's pages can use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from care import operators, queue, seoul
from care.auth import Access
from dolbom.errors import RuleViolation
from storage.db import Database
from storage.models import Assignment, CheckinSlot, District, Dong, Operator, Order, OrderHistory, Resident

REPO = Path(__file__).resolve().parents[2]


async def test_a_small_scale_loads_whole_and_the_desk_can_work_on_it(db: Database) -> None:
    loaded = await seoul.load(db, scale=seoul.Scale(2_000))
    assert loaded.counts["orders"] == 2_000
    assert loaded.counts["residents"] == 400
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(District))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Dong))).scalar_one() == 17
        # Every order has its "received" step; every one a provider took has its assignment.
        received = select(func.count(func.distinct(col(OrderHistory.order_id)))).where(
            col(OrderHistory.action) == "received"
        )
        assert (await s.execute(received)).scalar_one() == 2_000
        taken = select(func.count()).where(col(Order.status).in_(["assigned", "accepted", "in_progress", "done"]))
        assert (await s.execute(taken)).scalar_one() == (
            await s.execute(select(func.count()).select_from(Assignment))
        ).scalar_one()
        # Open orders are the recent ones, a few per cent, as in a real district.
        open_ = (await s.execute(select(func.count()).where(col(Order.status).in_(queue.OPEN_STATUSES)))).scalar_one()
        assert 0 < open_ < 200
        assert (await s.execute(select(func.count()).select_from(CheckinSlot))).scalar_one() == 40 * 14
        # The stored last 4 digits are the phone's.
        for r in (await s.execute(select(Resident).limit(50))).scalars():
            assert r.phone and r.phone_last4 == r.phone[-4:]
        desk = (await s.execute(select(Operator).where(col(Operator.username) == "desk-01"))).scalar_one()
        assert operators.verify_password(desk.password_hash, seoul.PASSWORD)
    # The ids continue after the load: the desk's next order gets a fresh id.
    async with db.transaction() as s:
        access = Access(operator_id=desk.id, username="desk-01", ip=None, district_id=1, role="operator")
        page = await queue.list_orders(s, access=access)
        assert page.rows and page.total == sum(page.counts[st] for st in queue.DESK_STATUSES) + page.approvals
        resident = (await s.execute(select(Resident).where(col(Resident.id) == 1))).scalar_one()
        assert resident.phone_last4
        same = select(col(Resident.id)).where(
            col(Resident.phone_last4) == resident.phone_last4, col(Resident.district_id) == 1
        )
        ids = set((await s.execute(same)).scalars())
        found = await queue.list_orders(s, access=access, search=resident.phone_last4)
        assert found.rows and {r.order.resident_id for r in found.rows} <= ids
        s.add(Resident(district_id=1, name="새 사람", phone="+821099990000"))
        await s.flush()


async def test_a_second_load_is_refused(db: Database) -> None:
    await seoul.load(db, scale=seoul.Scale(100))
    with pytest.raises(RuleViolation):
        await seoul.load(db, scale=seoul.Scale(100))


def test_scale_words() -> None:
    assert seoul.parse("seoul") == seoul.Scale(1_000_000)
    assert seoul.Scale(1_000_000).districts == 25 and seoul.Scale(1_000_000).residents == 200_000
    assert seoul.parse("100,000").orders == 100_000
    with pytest.raises(ValueError):
        seoul.parse("lots")


def test_sqlite_refuses_seoul_in_korean(tmp_path: Path) -> None:
    env = {**os.environ, "DOLBOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "dolbom.cli", "demo", "--scale", "seoul"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "SQLite" in done.stderr and "PostgreSQL" in done.stderr
    assert not (tmp_path / "big.db").exists() or (tmp_path / "big.db").stat().st_size == 0
