"""Console fixtures: the app on the test database, two districts, operators of every role."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from care import operators
from console.app import create_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import Operator, Order, Provider, Resident
from tests import factories

PASSWORD = "correct-horse-battery"
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


@functools.cache
def _password_hash() -> str:
    return operators.hash_password(PASSWORD)  # argon2id is slow on purpose: once per run


@dataclass
class World:
    mapo: factories.Place
    other: factories.Place
    resident: Resident
    order: Order
    lead: Provider
    backup: Provider
    other_resident: Resident
    other_order: Order


@pytest.fixture
async def world(db: Database) -> World:
    async with db.transaction() as s:
        mapo = await factories.make_district(s, name="마포구")
        other = await factories.make_district(s, name="은평구")
        lead = await factories.make_provider(s, mapo, name="마포돌봄협동조합", is_lead=True)
        backup = await factories.make_provider(s, mapo, name="한울사회적협동조합")
        resident = await factories.make_resident(s, mapo, name="박순자", phone="+821012345678")
        order = await factories.make_order(s, resident, service_code="meals", units=10)
        other_resident = await factories.make_resident(s, other, name="김말순", phone="+821098765432")
        other_order = await factories.make_order(s, other_resident)
        for username, role, place in (
            ("admin", "admin", None),
            ("mapo", "operator", mapo),
            ("eunpyeong", "operator", other),
            ("viewer", "viewer", mapo),
        ):
            s.add(
                Operator(
                    username=username,
                    password_hash=_password_hash(),
                    role=role,
                    district_id=place.district_id if place else None,
                    display_name=f"{username} 담당",
                )
            )
    return World(mapo, other, resident, order, lead, backup, other_resident, other_order)


@pytest.fixture
def app(db: Database, world: World) -> FastAPI:
    return create_app(database=db, settings=Settings(session_idle_minutes=30))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    """Open the sign-in page and post the form; return the answer (303 on success)."""
    page = await client.get("/login")
    match = _LOGIN.search(page.text)
    assert match, page.text
    return await client.post("/login", data={"username": username, "password": password, "login_token": match.group(1)})


async def csrf(client: httpx.AsyncClient, path: str = "/") -> str:
    """Return the CSRF token from a page's meta tag."""
    page = await client.get(path)
    match = _META.search(page.text)
    assert match and match.group(1), page.text[:500]
    return match.group(1)


async def signed_in(client: httpx.AsyncClient, username: str) -> str:
    """Sign in and return the session's CSRF token."""
    r = await sign_in(client, username)
    assert r.status_code == 303, r.text
    return await csrf(client)
