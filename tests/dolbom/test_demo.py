"""`dolbom demo`: the demo district is complete, consistent with the desk's rules, and survives a backup.

Loading the whole district takes a while, so the checks share one load per run (a module fixture
instead of `db`): in the SQLite pass the real `dolbom demo` loads an SQLite file (the backup check
needs that file anyway); in the PostgreSQL pass demo.load() fills the test database.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sqlite3
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from care import lifecycle, operators
from care.catalog import BY_CODE
from dolbom import backup, clock, demo
from storage import models
from storage.db import Database
from storage.models import (
    Assignment,
    CheckinSchedule,
    Dong,
    Order,
    OrderHistory,
    Outbox,
    Provider,
    ProviderRegion,
    Region,
    Resident,
    ServiceCatalog,
)
from tests.conftest import pg_url, prepare

REPO = Path(__file__).resolve().parents[2]
DONGS = {"아현동", "공덕동", "도화동", "용강동", "대흥동", "염리동", "신수동", "서강동", "서교동", "합정동"}
DONGS |= {"망원1동", "망원2동", "연남동", "성산1동", "성산2동", "상암동"}


async def _prepare_and_load(url: str) -> demo.DemoResult:
    await prepare(url)
    database = Database(url)
    try:
        return await demo.load(database)
    finally:
        await database.dispose()


def _dolbom(env: dict[str, str], *args: str) -> str:
    """Run the real `dolbom` command; return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "dolbom", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@dataclass
class Loaded:
    url: str
    printed: str  # what the load printed (its summary)
    sqlite_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """A database holding the demo district: on SQLite loaded by `dolbom demo` itself, on PostgreSQL in process."""
    url = pg_url()
    if url is not None:
        result = asyncio.run(_prepare_and_load(url))
        assert result.created
        yield Loaded(url=url, printed=result.summary())
    else:
        source = tmp_path_factory.mktemp("demo") / "d.db"
        env = {**os.environ, "DOLBOM_DATABASE_URL": f"sqlite+aiosqlite:///{source}"}
        env.pop("DOLBOM_TEST_DATABASE_URL", None)
        printed = _dolbom(env, "demo")
        yield Loaded(url=env["DOLBOM_DATABASE_URL"], printed=printed, sqlite_file=source, env=env)
    clock.set_now(None)


async def _table_counts(session: AsyncSession) -> dict[str, int]:
    """Return the row count of every table the database has (migrations may trail the models)."""
    connection = await session.connection()
    present = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    return {
        t.name: int((await session.execute(select(func.count()).select_from(t))).scalar_one())
        for t in models.metadata.sorted_tables
        if t.name in present
    }


async def test_demo_district_has_everything_once_and_a_second_load_adds_nothing(
    loaded: Loaded,
) -> None:
    assert "MAPO" in loaded.printed and "already" not in loaded.printed
    database = Database(loaded.url)
    try:
        async with database.sessions() as session:
            dongs = set((await session.execute(select(Dong.name))).scalars())
            regions = list((await session.execute(select(Region))).scalars())
            assert dongs == DONGS
            assert len(regions) == 3
            assert await session.scalar(select(func.count()).select_from(Provider)) == 10
            assert await session.scalar(select(func.count()).select_from(Resident)) == 300
            assert await session.scalar(select(func.count()).select_from(Order)) == 1500
            assert await session.scalar(select(func.count()).select_from(CheckinSchedule)) >= 3
            # Nothing made up may ever be sent to anyone.
            pending = select(func.count()).select_from(Outbox).where(Outbox.status == "pending")
            assert await session.scalar(pending) == 0
            statuses = set((await session.execute(select(Order.status).distinct())).scalars())
            assert statuses == {s.value for s in lifecycle.Status}
            for region in regions:
                leads = (
                    await session.execute(
                        select(func.count())
                        .select_from(ProviderRegion)
                        .where(ProviderRegion.region_id == region.id, ProviderRegion.is_lead)  # type: ignore[arg-type]
                    )
                ).scalar_one()
                assert leads == 1, region.name
            before = await _table_counts(session)

        second = await demo.load(database)

        async with database.sessions() as session:
            assert await _table_counts(session) == before
    finally:
        await database.dispose()
    assert not second.created
    assert second.counts["orders"] == 1500 and second.counts["residents"] == 300
    summary = second.summary()
    assert "이미" in summary and "already" in summary
    assert f"username: {demo.LOGINS[0][0]}" in summary and f"password: {demo.PASSWORD}" in summary


async def test_every_order_history_replays_through_the_lifecycle(loaded: Loaded) -> None:
    database = Database(loaded.url)
    try:
        async with database.sessions() as session:
            all_orders = list((await session.execute(select(Order))).scalars())
            history: dict[int, list[OrderHistory]] = defaultdict(list)
            for row in (await session.execute(select(OrderHistory).order_by(OrderHistory.id))).scalars():
                history[row.order_id].append(row)
            done_assignments = set(
                (await session.execute(select(Assignment.order_id).where(Assignment.status == "done"))).scalars()
            )
    finally:
        await database.dispose()
    now = datetime.now(UTC)
    assert len(all_orders) == 1500
    for order in all_orders:
        rows = history[order.id]  # type: ignore[index]
        assert rows[0].action == "create" and rows[0].from_status is None and rows[0].to_status == "received"
        assert rows[0].at == order.created_at
        for previous, row in itertools.pairwise(rows):
            assert row.from_status == previous.to_status, (order.receipt_no, row.action)
            lifecycle.check_move(row.from_status, row.to_status)  # type: ignore[arg-type]
            assert previous.at <= row.at <= now
            if row.action in ("cancel", "reject", "reassign", "return"):
                assert row.reason, (order.receipt_no, row.action)
        assert rows[-1].to_status == order.status, order.receipt_no
        if order.status == "done":
            assert order.delivered_units is not None and order.delivered_units >= 1, order.receipt_no
            assert order.id in done_assignments, order.receipt_no
    actions = {row.action for rows in history.values() for row in rows}
    assert {"reassign", "return", "cancel", "reject", "complete"} <= actions


async def test_no_resident_passes_a_service_cap(loaded: Loaded) -> None:
    database = Database(loaded.url)
    try:
        async with database.sessions() as session:
            caps = {
                (row.year, row.code): row.cap_units for row in (await session.execute(select(ServiceCatalog))).scalars()
            }
            rows = (
                await session.execute(
                    select(
                        Order.resident_id,
                        Order.service_code,
                        Order.status,
                        func.coalesce(Order.delivered_units, Order.units),
                    )
                )
            ).all()
    finally:
        await database.dispose()
    assert {code for _, code in caps} == set(BY_CODE)
    delivered: dict[tuple[int, str], int] = defaultdict(int)
    planned: dict[tuple[int, str], int] = defaultdict(int)
    for resident_id, service, status, units in rows:
        if status == "done":
            delivered[(resident_id, service)] += units
        if status not in ("cancelled", "rejected"):
            planned[(resident_id, service)] += units
    cap = {code: d.cap_units for code, d in BY_CODE.items()}
    for (resident_id, service), units in delivered.items():
        if cap[service] is not None:
            assert units <= cap[service], (resident_id, service, units)  # type: ignore[operator]
    # Open orders count against the cap too (the console shows what is left): they fit as well.
    for (resident_id, service), units in planned.items():
        if cap[service] is not None:
            assert units <= cap[service], (resident_id, service, units)  # type: ignore[operator]
    # Somebody is close to the meal cap: the demo shows the cap mattering.
    assert max(units for (_, service), units in planned.items() if service == "meals") >= 25


async def test_two_loads_at_the_same_moment_give_the_same_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "N_ORDERS", 40)
    moment = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

    async def snapshot(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        with clock.freeze(moment):
            await _prepare_and_load(url)
        database = Database(url)
        try:
            async with database.sessions() as session:
                residents = (
                    await session.execute(
                        select(Resident.name, Resident.phone, Resident.address, Resident.birth_year).order_by(
                            Resident.id
                        )
                    )
                ).all()
                orders = (
                    await session.execute(
                        select(
                            Order.receipt_no, Order.service_code, Order.units, Order.status, Order.created_at
                        ).order_by(Order.id)
                    )
                ).all()
        finally:
            await database.dispose()
        return [tuple(r) for r in residents], [tuple(o) for o in orders]

    first = await snapshot(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    second = await snapshot(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert first == second
    assert len(first[0]) == 300 and len(first[1]) == 40
    assert first[0][0][1] == "+821000000001"  # 010-0000-0001


@pytest.mark.skipif(pg_url() is not None, reason="an SQLite file backup; it runs in the SQLite pass")
def test_demo_then_backup_gives_the_same_rows_and_a_working_login(loaded: Loaded, tmp_path: Path) -> None:
    assert loaded.sqlite_file is not None
    target = tmp_path / "x.db"
    _dolbom(loaded.env, "backup", str(target))

    assert target.exists()
    copied = backup.count_rows(target)
    assert copied == backup.count_rows(loaded.sqlite_file)
    assert copied["orders"] == 1500 and copied["residents"] == 300 and copied["order_history"] > 1500
    login = re.search(r"admin\s+아이디 username: (\S+)\s+비밀번호 password: (\S+)", loaded.printed)
    assert login is not None, loaded.printed
    username, password = login.groups()
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT password_hash, role FROM operators WHERE username = ?", (username,)).fetchone()
    assert stored is not None and stored[1] == "admin"
    assert operators.verify_password(stored[0], password)
    assert not operators.verify_password(stored[0], password + "x")
