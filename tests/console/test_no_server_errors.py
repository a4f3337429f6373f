"""No request makes a 500: every route of the served app, tried with what an outside tester would send.

The routes come from the app's own route table (a new route is tried without anyone adding it here):
ids out of range and negative, bad dates and numbers in query strings, huge offsets, invalid UTF-8
in forms, JSON and query strings, broken JSON, 10 MB bodies. Each answer is a 4xx with a Korean
message (pages) or a JSON error (the API), and never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from dolbom.runner import build_web_app
from dolbom.settings import Settings
from storage.db import Database
from storage.models import Order, OrderHistory, Resident
from tests.console.conftest import World, signed_in

HANGUL = re.compile(r"[가-힣]")
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
BAD_IDS = ("99999999999", "2147483648", "9223372036854775808", "-1", "0", "1e3", "abc", "%FF")
BAD_QUERY = (
    "offset=99999999999999999999&limit=-5",
    "offset=-1",
    "limit=99999999999",
    "year=99999999999&district=99999999999",
    "resident_id=99999999999&since=2024-13-45&until=2024-02-30",
    "since=yesterday",
    "age=99999999999&region=-1&dong=99999999999",
    "status=%FF%FE&service=%C0%AF",
    "q=%FF",
    "%FF=%FF",
)
TOKEN = "123456:" + "A" * 35  # the shape of a Telegram token; nothing is sent anywhere
SECRET = "webhook-secret"


@pytest.fixture
def served(db: Database, world: World) -> FastAPI:
    """The app as `dolbom serve` builds it: console, web chat and the Telegram webhook."""
    settings = Settings(session_idle_minutes=30, telegram_token=TOKEN, telegram_mode="webhook", webhook_secret=SECRET)
    return build_web_app(database=db, settings=settings)


@pytest.fixture
async def admin(served: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://console.test") as c:
        token = await signed_in(c, "admin")
        c.headers["X-CSRF-Token"] = token
        yield c, token


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Return (method, path) of every route, including those of included routers."""
    found = []

    def walk(routes: list, prefix: str) -> None:  # type: ignore[type-arg]
        for route in routes:
            if isinstance(route, APIRoute):
                found.extend((m, prefix + route.path) for m in sorted(route.methods or ()) if m != "HEAD")
            elif hasattr(route, "original_router"):  # FastAPI keeps an included router as one entry
                walk(route.original_router.routes, prefix + route.include_context.prefix)

    walk(app.routes, "")
    assert len(found) > 30, found
    return found


def _fill(path: str, value: str, world: World) -> str:
    """Put value into the path's first id parameter and real ids (or a plain word) into the others."""
    names = PARAM.findall(path)
    out = path
    for i, name in enumerate(names):
        if i == 0:
            given = value
        elif name == "action":
            given = "note"
        else:
            given = str(world.order.id)
        out = re.sub(r"\{" + name + r"(?::\w+)?\}", given, out, count=1)
    return out


def _kind_4xx(r: httpx.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text, what
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        message = body.get("error") if isinstance(body, dict) else None
        if message is None and isinstance(body, dict) and isinstance(body.get("detail"), str):
            message = body["detail"]
        assert isinstance(message, str) and HANGUL.search(message), (what, body)
    else:
        assert HANGUL.search(r.text), (what, r.text[:300])


async def _state(db: Database) -> tuple[object, ...]:
    async with db.sessions() as s:
        orders = (await s.execute(select(Order.id, Order.status, Order.version).order_by(Order.id))).all()
        counts = [(await s.execute(select(func.count()).select_from(t))).scalar_one() for t in (OrderHistory, Resident)]
        return tuple(orders), tuple(counts)


async def test_every_id_in_every_path_out_of_range_or_negative_is_a_kind_4xx(
    served: FastAPI, admin: tuple[httpx.AsyncClient, str], db: Database, world: World
) -> None:
    client, token = admin
    before = await _state(db)
    tried = 0
    for method, path in _routes(served):
        names = PARAM.findall(path)
        if not names or names[0] in ("action", "name"):
            continue
        for bad in BAD_IDS:
            url = _fill(path, bad, world)
            data = {"csrf_token": token, "version": "1"} if method == "POST" else None
            r = await client.request(method, url, data=data)
            _kind_4xx(r, f"{method} {url}")
            tried += 1
    assert tried >= 40, tried  # the route table really was walked
    assert await _state(db) == before


async def test_bad_numbers_dates_and_offsets_in_query_strings_are_never_a_500(
    served: FastAPI, admin: tuple[httpx.AsyncClient, str], world: World
) -> None:
    client, _ = admin
    tried = 0
    for method, path in _routes(served):
        if method != "GET" or ("{" in path and not path.endswith("_id}")) or path == "/logout":
            continue
        base = _fill(path, str(world.order.id), world) if "{" in path else path
        for query in BAD_QUERY:
            r = await client.get(f"{base}?{query}")
            assert r.status_code < 500, (base, query, r.status_code)
            assert "Traceback" not in r.text
            if r.status_code >= 400:
                _kind_4xx(r, f"GET {base}?{query}")
            tried += 1
    assert tried >= 100, tried


async def test_the_list_pages_and_the_api_refuse_a_huge_or_negative_offset(
    admin: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = admin
    for url in (
        "/api/orders?offset=99999999999",
        "/api/orders?limit=-5",
        "/api/residents?offset=-1",
        "/api/residents?limit=99999999999",
        "/residents?offset=99999999999999",
    ):
        r = await client.get(url)
        _kind_4xx(r, url)
    r = await client.get("/api/orders?offset=0&limit=500")
    assert r.status_code == 200


async def test_invalid_utf8_in_forms_json_and_query_strings_is_a_kind_400(
    served: FastAPI, admin: tuple[httpx.AsyncClient, str], db: Database, world: World
) -> None:
    client, token = admin
    before = await _state(db)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    order = world.order.id
    for url, body in (
        (f"/orders/{order}/note", f"csrf_token={token}&version=1&reason=%FF%FE%FD".encode()),
        (f"/orders/{order}/note", f"csrf_token={token}&version=1&reason=".encode() + b"\xff\xfe"),
        ("/residents/search", f"csrf_token={token}&q=".encode() + b"\xc0\xaf"),
        ("/queue/search", f"csrf_token={token}&q=%C0%AF".encode()),
        (f"/residents/{world.resident.id}/edit", f"csrf_token={token}&name=".encode() + b"\xed\xa0\x80"),
        ("/intake", f"csrf_token={token}&name=".encode() + b"\xff"),
    ):
        r = await client.post(url, content=body, headers=form)
        assert r.status_code < 500, (url, body, r.status_code)
        if r.status_code >= 400:
            _kind_4xx(r, f"POST {url}")
    js = {"Content-Type": "application/json"}
    for url, body in (
        (f"/api/orders/{order}/note", b'{"version": 1, "reason": "\xff\xfe"}'),
        (f"/api/orders/{order}/note", b'{"version": 1, "reason": "\\ud800"}'),
        (f"/api/orders/{order}/note", b'{"version": 1,'),
        (f"/api/orders/{order}/note", b"\xef\xbb\xbf\xff"),
        ("/api/residents/search", b'{"q": "\xc0\xaf"}'),
        ("/chat/api/send", b'{"text": "\xff"}'),
        ("/telegram/webhook", b"{not json"),
        ("/telegram/webhook", b"\xff\xfe"),
    ):
        headers = {**js, "X-Telegram-Bot-Api-Secret-Token": SECRET} if "telegram" in url else js
        r = await client.post(url, content=body, headers=headers)
        _kind_4xx(r, f"POST {url} {body!r}")
    r = await client.get("/api/orders?status=%FF%FE")
    _kind_4xx(r, "query string")
    assert await _state(db) == before


async def test_a_10_mb_body_is_refused_with_413_before_it_is_read(
    served: FastAPI, admin: tuple[httpx.AsyncClient, str], db: Database, world: World
) -> None:
    client, token = admin
    before = await _state(db)
    big = "가" * (10 * 1024 * 1024 // 3)
    r = await client.post(f"/orders/{world.order.id}/note", data={"csrf_token": token, "version": "1", "reason": big})
    assert r.status_code == 413 and HANGUL.search(r.text)
    r = await client.post(f"/api/orders/{world.order.id}/note", json={"version": 1, "reason": big})
    assert r.status_code == 413 and HANGUL.search(r.json()["error"])

    # A body that does not say its length is cut off as it streams in.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    r = await client.post("/api/residents/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and HANGUL.search(r.json()["error"])
    assert await _state(db) == before
    # Ordinary requests still work.
    r = await client.post(f"/api/orders/{world.order.id}/note", json={"version": 1, "reason": "전화 드림"})
    assert r.status_code == 200, r.text


async def test_bad_dates_and_numbers_in_forms_are_a_kind_400_and_change_nothing(
    admin: tuple[httpx.AsyncClient, str], db: Database, world: World
) -> None:
    client, token = admin
    before = await _state(db)
    rid, oid = world.resident.id, world.order.id
    for url, data in (
        (f"/checkins/schedule/{rid}", {"weekdays": "0", "time": "09:00", "paused_until": "2024-02-30"}),
        (f"/checkins/schedule/{rid}", {"weekdays": "99999999999999999999", "time": "09:00"}),
        (f"/checkins/schedule/{rid}", {"weekdays": "0", "time": "99999999999999:00"}),
        (f"/orders/{oid}/complete", {"version": "99999999999", "units": "3"}),
        (f"/orders/{oid}/complete", {"version": "1", "units": "-3"}),
        (f"/orders/{oid}/assign", {"version": "1", "provider_id": "99999999999"}),
        (f"/orders/{oid}/assign", {"version": "-1", "provider_id": "-5"}),
        (f"/residents/{rid}/edit", {"dong_id": "99999999999", "name": "박순자"}),
        ("/admin/catalog", {"district_id": "99999999999", "year": "2024"}),
        ("/admin/catalog", {"district_id": str(world.mapo.district_id), "year": "99999999999"}),
        ("/admin/catalog/99999999999", {"unit_price": "1000"}),
        ("/admin/catalog/1", {"unit_price": "-1"}),
        ("/admin/operators", {"username": "x1", "password": "long-enough-1", "district_id": "99999999999"}),
        ("/admin/invites", {"target": "cm:99999999999"}),
        (f"/providers/{world.lead.id}", {"weekly_capacity": "99999999999999"}),
        ("/intake", {"name": "김", "phone": "010-1111-2222", "service": "meals", "units": "99999999999"}),
        ("/intake", {"name": "김", "phone": "010-1111-2222", "service": "meals", "requested_date": "2024-02-30"}),
        ("/intake", {"name": "김", "phone": "010-1111-2222", "service": "meals", "dong_id": "-1", "consent": "yes"}),
        (
            "/intake",
            {"name": "김", "phone": "010-1111-2222", "service": "meals", "district_id": "999999", "consent": "yes"},
        ),
    ):
        r = await client.post(url, data={"csrf_token": token, **data})
        _kind_4xx(r, f"POST {url} {data}")
    assert await _state(db) == before


async def test_the_api_answers_json_errors_and_pages_answer_korean_pages(
    admin: tuple[httpx.AsyncClient, str], world: World
) -> None:
    client, _ = admin
    r = await client.get("/api/orders/99999999999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert HANGUL.search(r.json()["error"])
    r = await client.post(f"/api/orders/{world.order.id}/note", json={"version": "abc", "units": -1})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert "버전" in message and "단위" in message, message
    r = await client.get("/orders/99999999999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "찾을 수 없" in r.text


async def test_a_crash_answers_a_kind_page_without_a_traceback(db: Database, world: World) -> None:
    app = build_web_app(database=db, settings=Settings())

    @app.get("/boom-test")
    async def boom() -> None:
        raise RuntimeError("secret detail 010-1234-5678")

    @app.get("/api/boom-test")
    async def api_boom() -> None:
        raise RuntimeError("secret detail 010-1234-5678")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        for url in ("/boom-test", "/api/boom-test"):
            r = await c.get(url)
            assert r.status_code == 500
            assert "secret detail" not in r.text and "Traceback" not in r.text and "010-1234" not in r.text
            assert HANGUL.search(r.text)
