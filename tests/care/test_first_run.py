"""First run: the link `dolbom serve` prints makes the first admin once, within the hour, and is then dead."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from care import first_run, operators
from dolbom import clock, runner
from dolbom.errors import InvalidInput, NotFound
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, FirstRunLink, Operator

PASSWORD = "a-long-enough-passphrase-42"


async def test_a_fresh_database_prints_the_link_and_keeps_only_its_hash(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await runner._announce_first_run(db, Settings(console_host="127.0.0.1", console_port=8123))
    out = capsys.readouterr().out
    assert "http://localhost:8123/setup/first-admin?token=" in out
    token = out.split("token=", 1)[1].split()[0]
    async with db.transaction() as s:
        rows = list((await s.execute(select(FirstRunLink))).scalars())
    assert len(rows) == 1 and token not in rows[0].token_hash and rows[0].used_at is None
    assert rows[0].expires_at - rows[0].created_at == timedelta(hours=1)


async def test_no_link_is_printed_once_an_operator_exists(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    async with db.transaction() as s:
        await operators.create(s, username="boss", password=PASSWORD, role="admin")
    await runner._announce_first_run(db, Settings())
    assert "first-admin" not in capsys.readouterr().out
    async with db.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(FirstRunLink))).scalar_one() == 0


async def test_the_link_creates_the_admin_once_and_is_then_refused(db: Database) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    assert token
    async with db.transaction() as s:
        op = await first_run.create_first_admin(s, token=token, username="boss", password=PASSWORD, ip="10.0.0.1")
    assert op.role == "admin" and op.district_id is None
    with pytest.raises(NotFound):
        async with db.transaction() as s:
            await first_run.create_first_admin(s, token=token, username="boss2", password=PASSWORD)
    async with db.transaction() as s:
        assert [o.username for o in (await s.execute(select(Operator))).scalars()] == ["boss"]
        actions = [r.action for r in (await s.execute(select(AccessLog))).scalars()]
    assert actions == ["first_admin_created"]


async def test_an_expired_link_is_refused(db: Database) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    assert token
    clock.set_now(clock.now() + timedelta(hours=1, seconds=1))
    with pytest.raises(NotFound):
        async with db.transaction() as s:
            await first_run.create_first_admin(s, token=token, username="boss", password=PASSWORD)


async def test_a_new_link_kills_the_old_one(db: Database) -> None:
    async with db.transaction() as s:
        old = await first_run.issue_if_needed(s)
    async with db.transaction() as s:
        new = await first_run.issue_if_needed(s)
    assert old and new and old != new
    with pytest.raises(NotFound):
        async with db.transaction() as s:
            await first_run.check(s, token=old)
    async with db.transaction() as s:
        await first_run.check(s, token=new)


async def test_a_weak_password_keeps_the_link_alive(db: Database) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    assert token
    with pytest.raises(InvalidInput):
        async with db.transaction() as s:
            await first_run.create_first_admin(s, token=token, username="boss", password="short")
    async with db.transaction() as s:
        await first_run.create_first_admin(s, token=token, username="boss", password=PASSWORD)


async def test_two_browsers_racing_with_one_link_make_one_admin(db: Database) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    assert token

    async def attempt(name: str) -> bool:
        try:
            async with db.transaction() as s:
                await first_run.create_first_admin(s, token=token, username=name, password=PASSWORD)
        except Exception:
            return False
        return True

    results = await asyncio.gather(attempt("first"), attempt("second"))
    assert sorted(results) == [False, True]
    async with db.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Operator))).scalar_one() == 1
