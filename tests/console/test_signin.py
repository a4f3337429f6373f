"""Sign-in that cannot be turned against the desk (issue 9 §4, decision 0010).

Delays an attacker cannot aim at the owner, one answer for unknown users and wrong passwords,
forwarded headers believed only from trusted proxies, argon2 off the event loop, the password
policy and forced change, HSTS, and the API schema behind sign-in.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from care import operators, registration_numbers
from console.app import create_app
from dolbom import clock
from dolbom.settings import Settings
from storage.db import Database
from storage.models import AccessLog, Operator, SignInThrottle
from tests.console.conftest import PASSWORD, World, csrf, sign_in, signed_in

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
OWNER_IP = "10.1.1.10"
ATTACKER_IP = "203.0.113.9"
PROXY_IP = "10.0.0.2"
_LOGIN_TOKEN = re.compile(r'name="login_token" value="[^"]+"')


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://console.test")


async def _log(db: Database, action: str | None = None) -> list[AccessLog]:
    async with db.sessions() as s:
        q = select(AccessLog).order_by(AccessLog.id)
        if action:
            q = q.where(AccessLog.action == action)
        return list((await s.execute(q)).scalars())


async def _wait_of(response: httpx.Response) -> int:
    """Return the seconds the sign-in page asks to wait (0 when it does not)."""
    minutes = re.search(r"(\d+)분", response.text)
    if minutes:
        return int(minutes.group(1)) * 60
    seconds = re.search(r"(\d+)초", response.text)
    return int(seconds.group(1)) if seconds else 0


async def _hammer(client: httpx.AsyncClient, username: str, failures: int) -> None:
    """Make `failures` wrong guesses as fast as the delays allow (the clock jumps over each wait)."""
    made = 0
    while made < failures:
        r = await sign_in(client, username, "guess-" + "x" * 8)
        assert r.status_code == 401
        wait = await _wait_of(r)
        if wait:
            clock.advance(timedelta(seconds=wait))  # refused unchecked: not a guess
        else:
            made += 1


# ------------------------------------------------------------------ throttling


async def test_an_attacker_from_one_address_cannot_lock_the_owner_out_from_another(app: FastAPI, db: Database) -> None:
    clock.set_now(T0)
    async with _client(app, OWNER_IP) as owner:
        # The owner signed in from their desk's browser before: it is known to the account.
        assert (await sign_in(owner, "mapo")).status_code == 303
        await owner.post("/logout", data={"csrf_token": await csrf(owner)})
        async with _client(app, ATTACKER_IP) as attacker:
            await _hammer(attacker, "mapo", 30)
            r = await sign_in(attacker, "mapo")
            assert r.status_code == 401 and await _wait_of(r) > 60  # the attacker is slowed hard
        # The owner's browser gets in at once, from its own address...
        assert (await sign_in(owner, "mapo")).status_code == 303
    # ...and from any other address, as long as it is the owner's browser (the cookie travels).
    owner_cookies = dict(owner.cookies)
    async with _client(app, "10.9.9.9") as laptop:
        laptop.cookies.update(owner_cookies)
        assert (await sign_in(laptop, "mapo")).status_code == 303
    failures = await _log(db, "signin_failed")
    assert len(failures) == 30 and {row.ip for row in failures} == {ATTACKER_IP}
    assert all(row.username == "mapo" for row in failures)


async def test_a_new_browser_waits_at_most_the_cap_however_long_the_attack(app: FastAPI, db: Database) -> None:
    clock.set_now(T0)
    async with _client(app, ATTACKER_IP) as attacker:
        await _hammer(attacker, "mapo", 40)
    async with _client(app, "10.7.7.7") as stranger_pc:
        r = await sign_in(stranger_pc, "mapo")
        wait = await _wait_of(r)
        # Slowed, not locked: the wait is bounded by the cap (15 minutes), then the password works.
        assert r.status_code == 401 and 0 < wait <= 15 * 60
        clock.advance(timedelta(seconds=wait))
        assert (await sign_in(stranger_pc, "mapo")).status_code == 303


async def test_each_failure_past_the_free_ones_doubles_the_wait(client: httpx.AsyncClient, db: Database) -> None:
    clock.set_now(T0)
    events: list[str | int] = []  # "failed", or the wait (s) a refused try was told
    while sum(1 for e in events if e != "failed") < 6:
        r = await sign_in(client, "mapo", "wrong-password-1")
        assert r.status_code == 401
        wait = await _wait_of(r)
        events.append(wait or "failed")
        if wait:
            clock.advance(timedelta(seconds=wait))
    # Three typos cost nothing; from the fourth failure on, each one doubles the wait.
    assert events == ["failed"] * 4 + [1, "failed", 2, "failed", 4, "failed", 8, "failed", 16, "failed", 32]
    throttled = await _log(db, "signin_throttled")
    assert len(throttled) == 6 and all(row.ip and row.username == "mapo" for row in throttled)
    assert len(await _log(db, "signin_failed")) == 9


async def test_one_address_guessing_many_accounts_is_slowed(app: FastAPI, db: Database) -> None:
    clock.set_now(T0)
    async with _client(app, ATTACKER_IP) as attacker:
        for n in range(10):  # ten different usernames, one guess each: the address's free ones
            assert await _wait_of(await sign_in(attacker, f"guess{n}", "guess-password")) == 0
        await sign_in(attacker, "guess-x", "guess-password")  # the eleventh
        r = await sign_in(attacker, "guess-y", "guess-password")
        assert r.status_code == 401 and await _wait_of(r) == 1
    # Nobody else is slowed by it.
    async with _client(app, OWNER_IP) as owner:
        assert (await sign_in(owner, "mapo")).status_code == 303
    rows = await _log(db, "signin_throttled")
    assert rows and "ip counter" in (rows[-1].detail or "")


async def test_parallel_guesses_cannot_share_one_open_slot(app: FastAPI, db: Database) -> None:
    clock.set_now(T0)
    async with _client(app, ATTACKER_IP) as attacker:
        await _hammer(attacker, "mapo", 6)  # the account now waits 4 s after each failure
        clock.advance(timedelta(seconds=4))
    # Twenty guesses fired at once, from twenty browsers, when the slot opens: only one is checked.
    browsers = [_client(app, ATTACKER_IP) for _ in range(20)]
    try:
        pages = [await b.get("/login") for b in browsers]

        async def guess(browser: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
            token = page.text.split('name="login_token" value="')[1].split('"')[0]
            return await browser.post(
                "/login", data={"username": "mapo", "password": "parallel-guess", "login_token": token}
            )

        answers = await asyncio.gather(*(guess(b, p) for b, p in zip(browsers, pages, strict=True)))
    finally:
        for b in browsers:
            await b.aclose()
    assert all(r.status_code == 401 for r in answers)
    checked = [r for r in answers if await _wait_of(r) == 0]
    assert len(checked) == 1
    assert len(await _log(db, "signin_failed")) == 6 + 1


async def test_throttle_rows_keep_no_typed_username(client: httpx.AsyncClient, db: Database) -> None:
    await sign_in(client, "someone-typed-this", "whatever-password")
    async with db.sessions() as s:
        keys = list((await s.execute(select(SignInThrottle.key))).scalars())
    assert keys and not any("someone-typed-this" in k for k in keys)


async def test_an_admin_can_let_a_slowed_account_try_again_at_once(app: FastAPI, db: Database) -> None:
    clock.set_now(T0)
    async with _client(app, ATTACKER_IP) as attacker:
        await _hammer(attacker, "mapo", 12)
    async with _client(app, OWNER_IP) as admin:
        token = await signed_in(admin, "admin")
        page = await admin.get("/admin/operators")
        assert "실패" in page.text or "slowed" in page.text
        async with db.sessions() as s:
            mapo = (await s.execute(select(Operator).where(Operator.username == "mapo"))).scalar_one()
        r = await admin.post(
            f"/admin/operators/{mapo.id}",
            data={"role": "operator", "active": "yes", "unlock": "yes", "csrf_token": token},
        )
        assert r.status_code == 303
    async with _client(app, "10.7.7.7") as owner:
        assert (await sign_in(owner, "mapo")).status_code == 303


# ------------------------------------------------------------------ one answer for everybody


def _page_text(response: httpx.Response) -> str:
    return _LOGIN_TOKEN.sub("", response.text).replace('value="nobody-here"', 'value="mapo"')


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = operators.verify_password

    def recording(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(operators, "verify_password", recording)
    clock.set_now(T0)
    wrong = await sign_in(client, "mapo", "not-the-password")
    unknown = await sign_in(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert _page_text(wrong) == _page_text(unknown)
    assert "아이디 또는 비밀번호" in wrong.text
    # An unknown name costs a real argon2 verification too (of a dummy hash): same time.
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)
    # The delays do not tell them apart either: the same count of failures, the same wait.
    for _ in range(4):
        await sign_in(client, "mapo", "not-the-password")
        await sign_in(client, "nobody-here", "not-the-password")
    wrong = await sign_in(client, "mapo", "not-the-password")
    unknown = await sign_in(client, "nobody-here", "not-the-password")
    assert await _wait_of(wrong) == await _wait_of(unknown) > 0
    assert _page_text(wrong) == _page_text(unknown)


async def test_a_stopped_account_answers_like_a_wrong_password(client: httpx.AsyncClient, db: Database) -> None:
    async with db.transaction() as s:
        viewer = (await s.execute(select(Operator).where(Operator.username == "viewer"))).scalar_one()
        viewer.active = False
    stopped = await sign_in(client, "viewer")  # the right password, on a stopped account
    wrong = await sign_in(client, "mapo", "not-the-password")
    assert stopped.status_code == wrong.status_code == 401
    assert _page_text(stopped).replace('value="viewer"', 'value="mapo"') == _page_text(wrong)


async def test_failures_are_logged_without_the_password_or_a_registration_number(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await sign_in(client, "mapo", "secret-guess-123")
    await sign_in(client, "900101-1234567", "secret-guess-456")
    rows = await _log(db, "signin_failed")
    # A registration number typed as the name is never stored: the row says one was withheld.
    assert [row.username for row in rows] == ["mapo", registration_numbers.REDACTED]
    assert all(row.ip == "127.0.0.1" for row in rows)
    text = caplog.text + " ".join(repr(row) for row in rows)
    assert "sign-in failed" in caplog.text
    assert "secret-guess" not in text and "1234567" not in text


# ------------------------------------------------------------------ argon2 off the loop


async def test_the_password_is_checked_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = operators.verify_password

    def recording(password_hash: str, password: str) -> bool:
        threads.append(threading.get_ident())
        return real(password_hash, password)

    monkeypatch.setattr(operators, "verify_password", recording)
    loop_thread = threading.get_ident()
    assert (await sign_in(client, "mapo")).status_code == 303
    await sign_in(client, "nobody", "whatever-password")
    assert len(threads) == 2 and loop_thread not in threads


async def test_hashing_a_new_password_runs_off_the_event_loop(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = operators.hash_password

    def recording(password: str) -> str:
        threads.append(threading.get_ident())
        return real(password)

    monkeypatch.setattr(operators, "hash_password", recording)
    async with db.transaction() as s:
        await operators.create(s, username="newbie", password="a-long-desk-phrase", role="viewer")
    assert threads and threading.get_ident() not in threads


# ------------------------------------------------------------------ trusted proxies


@pytest.fixture
async def behind_proxy(db: Database, world: World) -> AsyncIterator[FastAPI]:
    yield create_app(database=db, settings=Settings(trusted_proxies=f"{PROXY_IP}, 192.168.50.0/24"))


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(behind_proxy: FastAPI, db: Database) -> None:
    async with _client(behind_proxy, ATTACKER_IP) as c:
        page = await c.get("/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        r = await c.post(
            "/login",
            data={"username": "mapo", "password": "wrong-password-1", "login_token": token},
            headers={"X-Forwarded-For": "10.1.1.10"},
        )
        assert r.status_code == 401
    # The guess is charged to the address that sent it, not to the desk PC it named.
    assert [row.ip for row in await _log(db, "signin_failed")] == [ATTACKER_IP]


async def test_forwarded_for_from_a_trusted_proxy_is_used(behind_proxy: FastAPI, db: Database) -> None:
    async with _client(behind_proxy, PROXY_IP) as c:
        page = await c.get("/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        # The client typed a fake first hop; our proxies (one in the trusted network) appended
        # what they saw. The first address from the right that is not ours is the client.
        r = await c.post(
            "/login",
            data={"username": "mapo", "password": PASSWORD, "login_token": token},
            headers={"X-Forwarded-For": f"10.1.1.10, {ATTACKER_IP}, 192.168.50.7"},
        )
        assert r.status_code == 303
    rows = await _log(db, "signin")
    assert [row.ip for row in rows] == [ATTACKER_IP]


async def test_without_trusted_proxies_nobodys_forwarded_for_counts(client: httpx.AsyncClient, db: Database) -> None:
    page = await client.get("/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    await client.post(
        "/login",
        data={"username": "mapo", "password": "wrong-password-1", "login_token": token},
        headers={"X-Forwarded-For": "10.1.1.10"},
    )
    assert [row.ip for row in await _log(db, "signin_failed")] == ["127.0.0.1"]


# ------------------------------------------------------------------ HSTS


async def test_hsts_on_every_answer_over_https_and_never_over_http(behind_proxy: FastAPI) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with _client(behind_proxy, PROXY_IP) as c:
        for path in ("/login", "/", "/no/such/page", "/static/console.css", "/api/orders"):
            r = await c.get(path, headers=https)
            assert r.headers.get("strict-transport-security") == "max-age=31536000", path
        r = await c.get("/login", headers={"X-Forwarded-Proto": "http"})
        assert "strict-transport-security" not in r.headers
    # The same header from a peer that is not a trusted proxy proves nothing.
    async with _client(behind_proxy, ATTACKER_IP) as c:
        r = await c.get("/login", headers=https)
        assert "strict-transport-security" not in r.headers


# ------------------------------------------------------------------ the API schema


async def test_api_schema_and_docs_need_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/openapi.json")
    assert r.status_code == 401 and "paths" not in r.text
    r = await client.get("/api/docs")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    await signed_in(client, "viewer")
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200 and "/api/orders" in r.json()["paths"]
    assert "/api/openapi.json" not in r.json()["paths"]
    assert (await client.get("/api/docs")).status_code == 200


# ------------------------------------------------------------------ passwords


@pytest.mark.parametrize(
    ("password", "korean"),
    [
        ("short-1", "10자"),
        ("password2024!", "쉽게"),
        ("1q2w3e4r5t", "쉽게"),
        ("aaaaaaaaaaaa", "쉽게"),
        ("newdesk-is-me-2026", "아이디"),
    ],
)
async def test_a_weak_password_is_refused_kindly_on_the_admin_page(
    client: httpx.AsyncClient, db: Database, password: str, korean: str
) -> None:
    token = await signed_in(client, "admin")
    r = await client.post(
        "/admin/operators",
        data={"username": "newdesk", "password": password, "role": "operator", "csrf_token": token},
    )
    assert r.status_code == 400
    assert korean in r.text and "비밀번호" in r.text
    async with db.sessions() as s:
        assert (await s.execute(select(Operator).where(Operator.username == "newdesk"))).first() is None


async def test_an_admin_setting_a_weak_password_changes_nothing(client: httpx.AsyncClient, db: Database) -> None:
    token = await signed_in(client, "admin")
    async with db.sessions() as s:
        mapo = (await s.execute(select(Operator).where(Operator.username == "mapo"))).scalar_one()
    r = await client.post(
        f"/admin/operators/{mapo.id}",
        data={"role": "operator", "active": "yes", "password": "qwertyuiop", "csrf_token": token},
    )
    assert r.status_code == 400 and "쉽게" in r.text
    async with db.sessions() as s:
        again = (await s.execute(select(Operator).where(Operator.username == "mapo"))).scalar_one()
    assert again.password_hash == mapo.password_hash


async def test_an_admin_can_require_a_change_at_next_sign_in(app: FastAPI, db: Database) -> None:
    async with _client(app, OWNER_IP) as admin:
        token = await signed_in(admin, "admin")
        async with db.sessions() as s:
            mapo = (await s.execute(select(Operator).where(Operator.username == "mapo"))).scalar_one()
        r = await admin.post(
            f"/admin/operators/{mapo.id}",
            data={"role": "operator", "active": "yes", "must_change": "yes", "csrf_token": token},
        )
        assert r.status_code == 303
    async with _client(app, "10.1.1.11") as c:
        r = await sign_in(c, "mapo")
        assert r.status_code == 303 and r.headers["location"] == "/account/password"
        # Nothing else opens until the password is changed: pages, the API, the web of routes.
        r = await c.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/account/password"
        r = await c.get("/api/orders")
        assert r.status_code == 403 and "비밀번호" in r.json()["error"]
        page = await c.get("/account/password")
        assert page.status_code == 200 and "새 비밀번호" in page.text
        token = await csrf(c, "/account/password")
        r = await c.post(
            "/account/password",
            data={"current": PASSWORD, "new": "mapo-2026-desk", "again": "mapo-2026-desk", "csrf_token": token},
        )
        assert r.status_code == 400 and "아이디" in r.text  # the policy applies here too
        r = await c.post(
            "/account/password",
            data={
                "current": "not-it-at-all",
                "new": "a-fresh-long-phrase",
                "again": "a-fresh-long-phrase",
                "csrf_token": token,
            },
        )
        assert r.status_code == 400 and "지금 비밀번호가 맞지" in r.text
        assert (await c.get("/")).status_code == 303
        r = await c.post(
            "/account/password",
            data={
                "current": PASSWORD,
                "new": "a-fresh-long-phrase",
                "again": "a-fresh-long-phrase",
                "csrf_token": token,
            },
        )
        assert r.status_code == 303
        assert (await c.get("/")).status_code == 200
    async with _client(app, "10.1.1.12") as c:
        assert (await sign_in(c, "mapo")).status_code == 401
        r = await sign_in(c, "mapo", "a-fresh-long-phrase")
        assert r.status_code == 303 and r.headers["location"] == "/"
    assert [row.username for row in await _log(db, "password_changed")] == ["mapo"]


async def test_changing_ones_password_ends_the_other_sessions_of_the_account(app: FastAPI) -> None:
    async with _client(app, OWNER_IP) as desk, _client(app, "10.1.1.99") as forgotten_pc:
        await signed_in(forgotten_pc, "mapo")
        token = await signed_in(desk, "mapo")
        r = await desk.post(
            "/account/password",
            data={
                "current": PASSWORD,
                "new": "a-fresh-long-phrase",
                "again": "a-fresh-long-phrase",
                "csrf_token": token,
            },
        )
        assert r.status_code == 303
        assert (await desk.get("/")).status_code == 200
        r = await forgotten_pc.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/login"
