"""Sign-in, sessions, lockout and idle timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, OperatorSession
from tests.console.conftest import PASSWORD, World, csrf, sign_in

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def _actions(db: Database, username: str) -> list[str]:
    async with db.sessions() as s:
        rows = await s.execute(select(AccessLog.action).where(AccessLog.username == username).order_by(AccessLog.id))
        return list(rows.scalars())


async def test_pages_need_sign_in(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await client.get(f"/orders/{world.order.id}")
    assert r.status_code == 303
    r = await client.get("/api/orders")
    assert r.status_code == 401


async def test_sign_in_sets_a_safe_cookie_and_logs_it(client: httpx.AsyncClient, db: Database) -> None:
    r = await sign_in(client, "mapo")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "dolbom_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie
    page = await client.get("/")
    assert page.status_code == 200 and "mapo 담당" in page.text
    assert "signin" in await _actions(db, "mapo")


async def test_cookie_is_secure_behind_a_trusted_https_proxy(db: Database, world: World) -> None:
    app = create_app(database=db, settings=Settings(trusted_proxies="127.0.0.1"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as client:
        page = await client.get("/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        r = await client.post(
            "/login",
            data={"username": "mapo", "password": PASSWORD, "login_token": token},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert r.status_code == 303
    session_cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("dolbom_session="))
    assert "Secure" in session_cookie


async def test_forwarded_proto_from_anyone_else_does_not_count(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in page.headers["set-cookie"]
    assert "strict-transport-security" not in page.headers


async def test_every_sign_in_gets_a_new_session_id(client: httpx.AsyncClient) -> None:
    first = (await sign_in(client, "mapo")).cookies["dolbom_session"]
    second = (await sign_in(client, "mapo")).cookies["dolbom_session"]
    assert first != second
    # The session from before the second sign-in is over.
    client.cookies.set("dolbom_session", first)
    assert (await client.get("/")).status_code == 303
    client.cookies.set("dolbom_session", second)
    assert (await client.get("/")).status_code == 200


async def test_wrong_password_is_refused_and_logged(client: httpx.AsyncClient, db: Database) -> None:
    r = await sign_in(client, "mapo", "wrong-password")
    assert r.status_code == 401
    assert "아이디 또는 비밀번호" in r.text or "username or password" in r.text
    assert "dolbom_session" not in r.cookies
    assert await _actions(db, "mapo") == ["signin_failed"]
    r = await sign_in(client, "nobody", "whatever")
    assert r.status_code == 401
    assert await _actions(db, "nobody") == ["signin_failed"]


async def test_login_form_needs_its_token(client: httpx.AsyncClient) -> None:
    r = await client.post("/login", data={"username": "mapo", "password": PASSWORD, "login_token": "forged"})
    assert r.status_code == 403
    assert "dolbom_session" not in r.cookies


async def test_repeated_failures_slow_down_but_never_lock(client: httpx.AsyncClient, db: Database) -> None:
    # Was a hard lock after five failures; now each failure past the free ones only makes the
    # next try wait longer, and the right password works as soon as the wait is over.
    clock.set_now(T0)
    for _ in range(3):
        assert (await sign_in(client, "mapo", "bad-password")).status_code == 401
    r = await sign_in(client, "mapo", "bad-password")  # the fourth failure: the next try waits 1 s
    assert r.status_code == 401
    # Even the right password must wait now, and is told how long.
    r = await sign_in(client, "mapo")
    assert r.status_code == 401 and "dolbom_session" not in r.cookies
    assert "1초" in r.text or "1 seconds" in r.text
    clock.advance(timedelta(seconds=1))
    assert (await sign_in(client, "mapo", "bad-password")).status_code == 401  # fifth: waits 2 s
    clock.advance(timedelta(seconds=1))
    assert (await sign_in(client, "mapo")).status_code == 401  # still within the 2 s
    clock.advance(timedelta(seconds=1))
    assert (await sign_in(client, "mapo")).status_code == 303  # no 15-minute lock any more
    actions = await _actions(db, "mapo")
    assert actions.count("signin_failed") == 5
    assert actions.count("signin_throttled") == 2
    assert "account_locked" not in actions
    # A success forgets the account's failures: the next typo is free again.
    assert (await sign_in(client, "mapo", "bad-password")).status_code == 401
    assert (await sign_in(client, "mapo")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(client: httpx.AsyncClient, db: Database) -> None:
    r = await sign_in(client, "mapo")
    old = r.cookies["dolbom_session"]
    token = await csrf(client)
    r = await client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # Replaying the old cookie does not get back in.
    client.cookies.set("dolbom_session", old)
    assert (await client.get("/")).status_code == 303
    async with db.sessions() as s:
        rows = list((await s.execute(select(OperatorSession))).scalars())
        assert rows and all(row.revoked_at is not None for row in rows)
    assert "signout" in await _actions(db, "mapo")


async def test_idle_session_must_sign_in_again(client: httpx.AsyncClient) -> None:
    clock.set_now(T0)
    await sign_in(client, "mapo")
    clock.advance(timedelta(minutes=20))
    assert (await client.get("/")).status_code == 200  # activity keeps it alive
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/")).status_code == 200
    clock.advance(timedelta(minutes=31))
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # Once ended, it stays ended.
    clock.advance(timedelta(minutes=1))
    assert (await client.get("/")).status_code == 303


async def test_the_background_poll_does_not_keep_a_session_alive(client: httpx.AsyncClient) -> None:
    clock.set_now(T0)
    await sign_in(client, "mapo")
    for _ in range(4):
        clock.advance(timedelta(minutes=10))
        r = await client.get("/queue/poll", headers={"X-Dolbom-Poll": "1"})
    assert r.status_code == 401
