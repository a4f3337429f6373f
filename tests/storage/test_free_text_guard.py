"""Every text and JSON column refuses a registration number, however the write is made."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dolbom.errors import RegistrationNumberRefused
from storage import models
from storage.db import Database
from storage.models import Conversation, DeskNotice, Order, Resident
from storage.types import NoRegistrationNumber, is_text_type
from tests import factories

NUMBER = "471208-2839465"


def test_every_text_and_json_column_is_guarded_or_named_as_a_machine_identifier() -> None:
    unguarded = [
        f"{table.name}.{column.name}"
        for table in models.metadata.sorted_tables
        for column in table.columns
        if is_text_type(column.type)
        and not isinstance(column.type, NoRegistrationNumber)
        and (table.name, column.name) not in models.NOT_FREE_TEXT
    ]
    assert unguarded == [], "add the guard (it is automatic) or a reason in storage.models.NOT_FREE_TEXT"
    guarded = [c for t in models.metadata.sorted_tables for c in t.columns if isinstance(c.type, NoRegistrationNumber)]
    assert len(guarded) > 60


def test_the_exempt_columns_exist_and_are_not_guarded() -> None:
    for (table, column), reason in models.NOT_FREE_TEXT.items():
        col = models.metadata.tables[table].columns[column]
        assert is_text_type(col.type) and not isinstance(col.type, NoRegistrationNumber) and reason


async def _count_number(session: AsyncSession) -> int:
    found = 0
    for table in models.metadata.sorted_tables:
        for row in (await session.execute(select(table))).all():
            found += sum("2839465" in str(v) for v in row)
    return found


async def test_an_orm_insert_with_a_number_is_refused_and_nothing_is_written(db: Database) -> None:
    async with db.transaction() as s:
        place = await factories.make_district(s)
    with pytest.raises(RegistrationNumberRefused):
        async with db.transaction() as s:
            await factories.make_resident(s, place, name=f"김영희 {NUMBER}")
    async with db.sessions() as s:
        assert await _count_number(s) == 0
        assert (await s.execute(select(Resident))).first() is None


async def test_a_core_update_with_a_number_is_refused(db: Database) -> None:
    async with db.transaction() as s:
        place = await factories.make_district(s)
        resident = await factories.make_resident(s, place)
        order = await factories.make_order(s, resident)
    for stmt in (
        update(Order).where(Order.id == order.id).values(notes=f"메모 {NUMBER}"),
        update(Order).where(Order.id == order.id).values(details={"a": {"note": ["x", "471208ㅡ2839465"]}}),
        update(Resident).where(Resident.id == resident.id).values(address="망원로 4 7 1 2 0 8 2 8 3 9 4 6 5"),
        insert(DeskNotice).values(kind="digest", title="t", body=f"본문 {NUMBER}"),
        insert(Conversation).values(channel="telegram", user_key="1", state={"a": {"name": NUMBER}}),
    ):
        with pytest.raises(RegistrationNumberRefused):
            async with db.transaction() as s:
                await s.execute(stmt)
    async with db.sessions() as s:
        assert await _count_number(s) == 0


async def test_a_bulk_insert_with_one_number_among_many_rows_is_refused_whole(db: Database) -> None:
    rows = [{"kind": "digest", "title": f"알림 {i}", "body": ""} for i in range(20)]
    rows[13]["body"] = f"주민번호 {NUMBER}"
    with pytest.raises(RegistrationNumberRefused):
        async with db.transaction() as s:
            await s.execute(insert(DeskNotice), rows)
    async with db.sessions() as s:
        assert (await s.execute(select(DeskNotice))).first() is None


async def test_a_search_with_a_number_is_refused_before_it_reaches_the_database(db: Database) -> None:
    with pytest.raises(RegistrationNumberRefused):
        async with db.sessions() as s:
            await s.execute(select(Resident).where(Resident.name.contains(NUMBER)))  # type: ignore[union-attr]


async def test_sqlite_zeroes_deleted_content(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PRAGMA secure_delete is SQLite's; PostgreSQL pages are not read from the file by us")
    async with db.sessions() as s:
        assert (await s.execute(text("PRAGMA secure_delete"))).scalar_one() == 1
