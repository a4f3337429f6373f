"""Issue 9 §2, measured: every spelling of a registration number in every field a person can type into,
then the database (rows, and on SQLite the raw file and its -wal) and the captured logs are searched
for any trace of it. The figures are printed (pytest -s) for the report; traces must be 0.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from dolbom import cli, logs
from dolbom.settings import get_settings
from storage import models
from storage.db import Database
from storage.models import Order
from tests.bot.harness import Person
from tests.console.conftest import PASSWORD, World, csrf, sign_in, signed_in

DIGITS = "4712082839465"  # 1947-12-08, 2: a woman born in the 1900s
FRONT, BACK = DIGITS[:6], DIGITS[6:]
REFUSAL = "주민등록번호"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _arabic_indic(text: str) -> str:
    return "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in text)


SPELLINGS = [
    f"{FRONT}-{BACK}",
    DIGITS,
    f"{FRONT} {BACK}",
    f"{FRONT} - {BACK}",
    f"{FRONT}ㅡ{BACK}",
    f"{FRONT}.{BACK}",
    f"{FRONT}/{BACK}",
    f"{FRONT}_{BACK}",
    f"{FRONT}~{BACK}",
    f"{FRONT}\u2013{BACK}",
    f"{FRONT}\u2212{BACK}",
    f"{FRONT}\u00a0{BACK}",
    f"{FRONT}\u3000{BACK}",
    f"{FRONT}\u00ad{BACK}",
    _fullwidth(f"{FRONT}-{BACK}"),
    "4712\u200b08-2839\u200d465",
    " ".join(DIGITS),
    "471 208 2839 465",
    "47-12-08-2839465",
    _arabic_indic(f"{FRONT}-{BACK}"),
    f"주민번호 {FRONT}-{BACK} 입니다",
    f"({FRONT}-{BACK})",
    f"{FRONT}-{BACK} 010-1234-5678",
    f"박순자 {FRONT} {BACK} 1",
]

Field = Callable[[str], Awaitable[None]]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    logs.install()  # as `dolbom serve` does
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def _digits_only(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(c)) for c in folded if unicodedata.category(c) == "Nd")


def _traces_in(text: str) -> int:
    """Count the number in any spelling: its digits in order, or its back half as typed."""
    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    count = _digits_only(unescaped).count(DIGITS)
    for form in (BACK, _fullwidth(BACK), _arabic_indic(BACK), "2839\u200d465", "2 8 3 9 4 6 5"):
        count += unescaped.count(form)
    return count


async def _rows_text(db: Database) -> str:
    parts: list[str] = []
    async with db.sessions() as s:
        for table in models.metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                parts.extend(json.dumps(v, ensure_ascii=False, default=str) for v in row)
    return "\n".join(parts)


def _file_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="ignore") if path.exists() else ""


async def test_a_registration_number_in_every_field_and_spelling_leaves_no_trace(
    db: Database,
    client: httpx.AsyncClient,
    world: World,
    captured: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await signed_in(client, "admin")
    order_id = world.order.id
    resident_id = world.resident.id
    refused: dict[str, int] = {}

    def expect(response: httpx.Response, status: int, field: str) -> None:
        assert response.status_code == status, (field, response.status_code, response.text[:300])
        assert REFUSAL in response.text, (field, response.text[:300])
        assert _traces_in(response.text) == 0, f"{field} echoed the number back"
        refused[field] = refused.get(field, 0) + 1

    async def console_note(s: str) -> None:
        r = await client.post(f"/orders/{order_id}/note", data={"version": "1", "reason": s, "csrf_token": token})
        expect(r, 422, "console order note")

    async def console_cancel_reason(s: str) -> None:
        r = await client.post(f"/orders/{order_id}/cancel", data={"version": "1", "reason": s, "csrf_token": token})
        expect(r, 422, "console cancel reason")

    async def api_note(s: str) -> None:
        r = await client.post(
            f"/api/orders/{order_id}/note", json={"version": 1, "reason": s}, headers={"x-csrf-token": token}
        )
        expect(r, 422, "API order note")
        assert r.headers["content-type"].startswith("application/json")

    async def api_cancel_reason(s: str) -> None:
        r = await client.post(
            f"/api/orders/{order_id}/cancel", json={"version": 1, "reason": s}, headers={"x-csrf-token": token}
        )
        expect(r, 422, "API cancel reason")

    async def api_search(s: str) -> None:
        r = await client.post("/api/residents/search", json={"q": s}, headers={"x-csrf-token": token})
        expect(r, 422, "API resident search")

    async def intake(field: str) -> Field:
        async def run(s: str) -> None:
            data = {
                "csrf_token": token,
                "district_id": str(world.mapo.district_id),
                "service": "meals",
                "name": "최영자",
                "phone": "010-5555-6666",
                "consent": "yes",
                field: s,
            }
            r = await client.post("/intake", data=data)
            expect(r, 422, f"phone intake {field}")
            if field != "name":
                assert "최영자" in r.text  # what was typed stays

        return run

    async def resident_edit(field: str) -> Field:
        async def run(s: str) -> None:
            r = await client.post(f"/residents/{resident_id}/edit", data={"csrf_token": token, field: s})
            expect(r, 422, f"resident {field}")

        return run

    async def operator_display_name(s: str) -> None:
        data = {"csrf_token": token, "username": "newdesk", "display_name": s, "password": PASSWORD, "role": "viewer"}
        r = await client.post("/admin/operators", data=data)
        expect(r, 422, "operator display name (admin page)")
        assert 'value="newdesk"' in r.text  # the username typed stays

    async def operator_username(s: str) -> None:
        data = {"csrf_token": token, "username": s, "display_name": "새 담당", "password": PASSWORD, "role": "viewer"}
        r = await client.post("/admin/operators", data=data)
        expect(r, 422, "operator username (admin page)")

    async def checkin_form(s: str) -> None:
        data = {"csrf_token": token, "weekdays": "0", "time": "10:00", "paused_until": s}
        r = await client.post(f"/checkins/schedule/{resident_id}", data=data)
        expect(r, 422, "check-in form")

    async def query_string(s: str) -> None:
        # The page answers; uvicorn's access line for it must keep the path only.
        await client.get(f"/queue?q={quote(s)}")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", f"/queue?q={quote(s)}", "1.1", 200
        )
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", f"/queue?q={s}", "1.1", 200
        )
        refused["query string in access line"] = refused.get("query string in access line", 0) + 1

    async def sign_in_username(s: str) -> None:
        async with httpx.AsyncClient(transport=client._transport, base_url="http://console.test") as other:
            r = await sign_in(other, s, "wrong-password-123")
        expect(r, 422, "sign-in username")

    monkeypatch.setattr(get_settings(), "database_url", db.url)

    async def _no_migration(_url: str) -> None:
        return None

    monkeypatch.setattr("storage.migrate.upgrade_async", _no_migration)

    async def cli_operator_add(s: str) -> None:
        argv = ["operator", "add", "--username", "clidesk", "--password", PASSWORD, "--role", "viewer", "--name", s]
        code = await asyncio.to_thread(cli.main, argv)
        err = capsys.readouterr().err
        assert code == 1 and REFUSAL in err and _traces_in(err) == 0, err
        key = "operator display name (dolbom operator add)"
        refused[key] = refused.get(key, 0) + 1

    person = Person(db, user_id=7770001)
    await person.say("/start")
    await person.press("서비스 신청")
    await person.press("식사 배달")
    await person.press("본인")

    async def bot_text(s: str) -> None:
        await person.say(s)
        assert REFUSAL in person.last_texts(2)
        refused["bot text (name question)"] = refused.get("bot text (name question)", 0) + 1

    fields: list[Field] = [
        bot_text,
        console_note,
        console_cancel_reason,
        api_note,
        api_cancel_reason,
        api_search,
        await intake("name"),
        await intake("address"),
        await intake("notes"),
        await resident_edit("name"),
        await resident_edit("address"),
        operator_display_name,
        operator_username,
        checkin_form,
        query_string,
        sign_in_username,
        cli_operator_add,
    ]
    for spelling in SPELLINGS:
        for field in fields:
            await field(spelling)
    await csrf(client)  # still signed in and working

    async with db.sessions() as s:
        order = await s.get(Order, order_id)
        assert order is not None and order.status == "received" and order.version == 1
    traces = {"database rows": _traces_in(await _rows_text(db)), "logs": _traces_in(captured.getvalue())}
    if db.is_sqlite:
        await db.dispose()  # closes connections; the -wal file stays as it is
        path = Path(make_url(db.url).database or "")
        traces["database file"] = _traces_in(_file_text(path))
        traces["-wal file"] = _traces_in(_file_text(path.with_name(path.name + "-wal")))
    tried = len(SPELLINGS) * len(fields)
    with capsys.disabled():
        print(
            f"\nregistration numbers: {len(SPELLINGS)} spellings x {len(fields)} fields = {tried} tries;",
            f"traces {traces}",
        )
    assert sum(refused.values()) == tried, refused
    leaks = [line for line in captured.getvalue().splitlines() if _traces_in(line)]
    assert traces == dict.fromkeys(traces, 0), leaks[:5]
