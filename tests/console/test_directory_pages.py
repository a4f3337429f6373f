"""The district set-up in the console: first-run link → first admin → walk-through → a district with its directory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from care import first_run, operators
from console.app import create_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, CareManager, District, Dong, Operator, Provider, ProviderRegion, Region
from tests.console.conftest import PASSWORD, World, csrf, sign_in, signed_in

NEW_PASSWORD = "a-long-enough-passphrase-42"


@pytest.fixture
async def fresh(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The console on an empty database: no operator, no district."""
    app = create_app(database=db, settings=Settings(session_idle_minutes=30))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as c:
        yield c


async def _form(client: httpx.AsyncClient, path: str, data: dict[str, object], token: str) -> httpx.Response:
    return await client.post(path, data={**data, "csrf_token": token})


async def test_the_first_admin_sets_up_a_district_through_the_console(db: Database, fresh: httpx.AsyncClient) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    assert token
    page = await fresh.get(f"/setup/first-admin?token={token}")
    assert (page.status_code == 200 and "관리자" in page.text) or "administrator" in page.text
    made = await fresh.post(
        "/setup/first-admin",
        data={"token": token, "username": "boss", "password": NEW_PASSWORD, "again": NEW_PASSWORD},
    )
    assert made.status_code == 303 and made.headers["location"] == "/login"
    # The link is dead now, for a second try and for a second account.
    again = await fresh.post(
        "/setup/first-admin",
        data={"token": token, "username": "boss2", "password": NEW_PASSWORD, "again": NEW_PASSWORD},
    )
    assert again.status_code == 404
    assert (await fresh.get(f"/setup/first-admin?token={token}")).status_code == 404

    # Signing in with no district yet leads to the walk-through.
    login = await fresh.get("/login")
    login_token = re.search(r'name="login_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    r = await fresh.post("/login", data={"username": "boss", "password": NEW_PASSWORD, "login_token": login_token})
    assert r.status_code == 303 and r.headers["location"] == "/admin/setup"
    walk = await fresh.get("/admin/setup")
    assert walk.status_code == 200 and "/admin/district/workbook" in walk.text
    t = await csrf(fresh, "/admin/setup")

    r = await _form(
        fresh,
        "/admin/districts",
        {"name": "마포구", "code": "11440", "phone": "02-3153-8000", "office_hours": "평일 9시-18시"},
        t,
    )
    assert r.status_code == 303
    async with db.sessions() as s:
        district = (await s.execute(select(District))).scalar_one()
    did = district.id
    assert r.headers["location"] == f"/admin/districts/{did}?setup=1"
    assert (await _form(fresh, f"/admin/districts/{did}/regions", {"name": "1권역"}, t)).status_code == 303
    assert (await _form(fresh, f"/admin/districts/{did}/regions", {"name": "2권역"}, t)).status_code == 303
    async with db.sessions() as s:
        regions = {r.name: r.id for r in (await s.execute(select(Region))).scalars()}
    for name, region in (("공덕동", "1권역"), ("아현동", "1권역"), ("망원1동", "2권역")):
        r = await _form(fresh, f"/admin/districts/{did}/dongs", {"name": name, "region_id": regions[region]}, t)
        assert r.status_code == 303
    r = await fresh.post(
        f"/admin/districts/{did}/providers",
        data={
            "csrf_token": t,
            "name": "마포돌봄협동조합",
            "kind": "cooperative",
            "phone": "02-715-0000",
            "weekly_capacity": "25",
            "svc_meals": "yes",
            "cap_meals": "40",
            "svc_home_care": "yes",
            "regions": [str(regions["1권역"]), str(regions["2권역"])],
            "leads": [str(regions["1권역"])],
        },
    )
    assert r.status_code == 303, r.text
    async with db.sessions() as s:
        dongs = {d.name: d.id for d in (await s.execute(select(Dong))).scalars()}
    r = await _form(
        fresh,
        f"/admin/districts/{did}/care-managers",
        {"name": "김돌봄", "dong_id": dongs["공덕동"], "job_type": "nurse", "phone": "010-2222-3333"},
        t,
    )
    assert r.status_code == 303
    page = await fresh.get(f"/admin/districts/{did}")
    assert page.status_code == 200
    for text in ("공덕동", "망원1동", "마포돌봄협동조합", "김돌봄", "02-3153-8000"):
        assert text in page.text
    async with db.sessions() as s:
        provider = (await s.execute(select(Provider))).scalar_one()
        links = {(x.region_id, x.is_lead) for x in (await s.execute(select(ProviderRegion))).scalars()}
        manager = (await s.execute(select(CareManager))).scalar_one()
        actions = [a.action for a in (await s.execute(select(AccessLog).order_by(AccessLog.id))).scalars()]
    assert provider.kind == "cooperative" and provider.weekly_capacity == 25
    assert links == {(regions["1권역"], True), (regions["2권역"], False)}
    assert manager.job_type == "nurse" and manager.dong_id == dongs["공덕동"]
    assert actions.count("dong_create") == 3 and "provider_create" in actions and "care_manager_create" in actions
    # The provider's page shows what it offers and the staff list, with the invite page for adding.
    ppage = await fresh.get(f"/admin/directory/providers/{provider.id}")
    assert ppage.status_code == 200 and 'name="cap_meals"' in ppage.text and 'value="40"' in ppage.text
    assert "/admin/invites" in ppage.text


async def test_an_expired_link_shows_a_kind_page(db: Database, fresh: httpx.AsyncClient) -> None:
    from datetime import timedelta

    from dolbom import clock

    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    clock.set_now(clock.now() + timedelta(hours=2))
    r = await fresh.get(f"/setup/first-admin?token={token}")
    assert r.status_code == 404 and "<html" in r.text and "Traceback" not in r.text


async def test_a_mismatched_or_weak_password_is_answered_kindly_and_the_link_lives(
    db: Database, fresh: httpx.AsyncClient
) -> None:
    async with db.transaction() as s:
        token = await first_run.issue_if_needed(s)
    r = await fresh.post(
        "/setup/first-admin", data={"token": token, "username": "boss", "password": NEW_PASSWORD, "again": "x"}
    )
    assert r.status_code == 400
    r = await fresh.post(
        "/setup/first-admin", data={"token": token, "username": "boss", "password": "password1", "again": "password1"}
    )
    assert r.status_code == 400
    r = await fresh.post(
        "/setup/first-admin",
        data={"token": token, "username": "boss", "password": NEW_PASSWORD, "again": NEW_PASSWORD},
    )
    assert r.status_code == 303


async def test_another_districts_admin_gets_404_on_your_directory(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    async with db.transaction() as s:
        await operators.create(
            s, username="eunpyeong-admin", password=PASSWORD, role="admin", district_code=world.other.district.code
        )
    t = await signed_in(client, "eunpyeong-admin")
    mapo = world.mapo
    assert (await client.get(f"/admin/districts/{mapo.district_id}")).status_code == 404
    r = await _form(
        client,
        f"/admin/districts/{mapo.district_id}",
        {"code": "HACK", "name": "내구", "phone": "02-000-0000", "active": "yes"},
        t,
    )
    assert r.status_code == 404
    r = await _form(client, f"/admin/dongs/{mapo.dongs[0].id}", {"name": "x동", "region_id": mapo.regions[0].id}, t)
    assert r.status_code == 404
    assert (await client.get(f"/admin/directory/providers/{world.lead.id}")).status_code == 404
    # Their own district opens; the list shows only it; they may not add a district.
    assert (await client.get(f"/admin/districts/{world.other.district_id}")).status_code == 200
    listing = await client.get("/admin/districts")
    assert "은평구" in listing.text and "마포구" not in listing.text
    assert (await _form(client, "/admin/districts", {"code": "X9", "name": "새구"}, t)).status_code == 403
    async with db.sessions() as s:
        d = await s.get(District, mapo.district_id)
        dong = await s.get(Dong, mapo.dongs[0].id)
    assert d is not None and d.code == mapo.district.code and dong is not None and dong.name == mapo.dongs[0].name


async def test_bad_directory_input_gets_a_kind_korean_answer(world: World, client: httpx.AsyncClient) -> None:
    t = await signed_in(client, "admin")
    r = await _form(client, f"/admin/districts/{world.mapo.district_id}/regions", {"name": "1권역"}, t)
    alert = re.search(r'<p class="alert" role="alert">([^<]*)</p>', r.text)
    assert r.status_code == 400 and alert and "1권역" in alert.group(1)
    r = await _form(
        client,
        f"/admin/districts/{world.mapo.district_id}/care-managers",
        {"name": "김", "dong_id": world.mapo.dongs[0].id, "job_type": "doctor"},
        t,
    )
    assert r.status_code == 400 and "<html" in r.text
    r = await _form(client, f"/admin/districts/{world.mapo.district_id}", {"code": "11 440", "name": "마포구"}, t)
    assert r.status_code == 400


async def test_the_catalog_page_edits_the_annual_limit_and_copies_a_year(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    from care import prices
    from dolbom import clock

    t = await signed_in(client, "admin")
    did, year = world.mapo.district_id, clock.local_now().year
    page = await client.get(f"/admin/catalog?district={did}&year={year}")
    assert 'action="/admin/support-limit"' in page.text
    r = await _form(client, "/admin/support-limit", {"district_id": did, "year": year, "annual_limit": "1750000"}, t)
    assert r.status_code == 303
    empty = await client.get(f"/admin/catalog?district={did}&year={year + 1}")
    assert 'action="/admin/catalog-copy"' in empty.text
    r = await _form(client, "/admin/catalog-copy", {"district_id": did, "year": year + 1}, t)
    assert r.status_code == 303
    async with db.sessions() as s:
        assert await prices.get_annual_limit(s, district_id=did, year=year + 1) == 1_750_000
        assert len(await prices.list_catalog(s, district_id=did, year=year + 1)) == len(
            await prices.list_catalog(s, district_id=did, year=year)
        )


async def test_operators_cannot_open_the_directory(client: httpx.AsyncClient, world: World) -> None:
    await signed_in(client, "mapo")
    assert (await client.get(f"/admin/districts/{world.mapo.district_id}")).status_code == 403
    assert (await client.get("/admin/setup")).status_code == 403
    assert isinstance(await sign_in(client, "mapo"), httpx.Response)
    assert Operator  # the table the first-run checks


async def test_the_catalog_page_sets_a_no_show_rule_per_service_and_year(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    from care import prices

    t = await signed_in(client, "admin")
    did = world.mapo.district_id
    async with db.transaction() as s:
        await prices.create_defaults(s, district_id=did, year=2026)
        meals = next(r for r in await prices.list_catalog(s, district_id=did, year=2026) if r.code == "meals")
        assert meals.no_show_units == 0  # the default: a no-show is not billed
    page = await client.get(f"/admin/catalog?district={did}&year=2026")
    assert 'name="no_show_units" value="0"' in page.text
    form = {"unit_price": "7200", "cap_units": "30", "no_show_units": "1", "active": "yes"}
    r = await _form(client, f"/admin/catalog/{meals.id}", form, t)
    assert r.status_code == 303
    async with db.sessions() as s:
        assert (await prices.get(s, district_id=did, year=2026, service_code="meals")).no_show_units == 1
        assert (await prices.get(s, district_id=did, year=2027, service_code="meals")).no_show_units == 0
    page = await client.get(f"/admin/catalog?district={did}&year=2026")
    assert 'name="no_show_units" value="1"' in page.text
    r = await _form(client, f"/admin/catalog/{meals.id}", {**form, "no_show_units": ""}, t)
    async with db.sessions() as s:
        assert (await prices.get(s, district_id=did, year=2026, service_code="meals")).no_show_units == 0
    # A negative rule is refused.
    r = await _form(client, f"/admin/catalog/{meals.id}", {**form, "no_show_units": "-1"}, t)
    assert r.status_code == 400
