"""Fixtures for the bot tests: a district with dongs, and a person talking to a real Dispatcher."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from tests.bot.harness import Person
from tests.factories import Place, make_district


@pytest.fixture
async def place(db: Database) -> Place:
    async with db.transaction() as session:
        return await make_district(session)


@pytest.fixture
async def person(db: Database, place: Place) -> Person:
    return Person(db)


__all__ = ["AsyncSession"]
