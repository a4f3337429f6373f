"""The desk's queue with 100,000 orders in one district on PostgreSQL, through the real route.

    .venv/bin/python bench/desk_queue.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/DBNAME [--orders 100000]

THE DATABASE IS EMPTIED (schema dropped and rebuilt from storage.models). Loads one district
(2 권역, 10 동, 20,000 residents) and N orders by SQL (generate_series: one statement each; about
3 % waiting for the desk, 2 % with providers, the rest closed, as a district's real history),
signs in as a district operator through the console app (httpx + ASGI) and measures, median of 20:

- queue-default: `/` (창구가 할 일, urgent newest first then oldest waiting first)
- queue-page200: `/?tab=all&after=…` the 200th page of 50 of every order (the cursor of row 9,950)
- queue-sorted:  `/?tab=all&sort=service` every order sorted by the service column
- queue-poll:    `/queue/poll` (counts per status and the change marker)

and prints `bench queue-<name>: <ms> (target 100) PASS|FAIL` for each.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, this folder would come first on the path (and could shadow the checkout's
# packages): the checkout's root comes first instead.
if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import re
import statistics
import time
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from care import operators, queue
from console.app import create_app
from dolbom.settings import Settings
from storage import models
from storage.db import Database
from storage.models import District, Dong, Operator, Order, Region

TARGET_MS = 100.0
RUNS = 20
PASSWORD = "bench-queue-password-1"


async def _load(database: Database, n_orders: int) -> int:
    """Rebuild the schema and load the district; return the district id."""
    async with database.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
        await conn.run_sync(models.metadata.create_all)
    async with database.transaction() as s:
        district = District(code="B001", name="벤치구")
        s.add(district)
        await s.flush()
        regions = [Region(district_id=district.id, name=f"{i}권역") for i in (1, 2)]  # type: ignore[arg-type]
        s.add_all(regions)
        await s.flush()
        s.add_all(
            Dong(district_id=district.id, region_id=regions[i % 2].id, name=f"{i + 1}동")  # type: ignore[arg-type]
            for i in range(10)
        )
        s.add(
            Operator(
                username="bench-desk",
                display_name="벤치창구",
                password_hash=operators.hash_password(PASSWORD),
                role="operator",
                district_id=district.id,
            )
        )
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO residents (district_id, dong_id, name, phone, birth_year, income_tier,"
                " needs_phone_call, created_at, updated_at, last_active_at)"
                " SELECT 1, 1 + (g % 10), '주민' || g, '+82100' || lpad(g::text, 7, '0'), 1940 + (g % 20),"
                " 'basic', false, now(), now(), now() FROM generate_series(1, 20000) g"
            )
        )
        # Statuses by position: 3 % for the desk (received / screening), 2 % with providers, the rest closed.
        await conn.execute(
            text(
                "INSERT INTO orders (receipt_no, district_id, resident_id, service_code, units, urgency, source,"
                " status, details, proposed, created_at, updated_at, status_changed_at, version)"
                " SELECT lpad((g / 100000)::text, 4, '0') || '-' || lpad((g % 100000)::text, 5, '0'), 1,"
                " 1 + (g % 20000),"
                " (ARRAY['home_care','short_stay','escort','housing','meals','checkin','health','info'])[1 + g % 8],"
                " 1 + g % 10, CASE WHEN g % 13 = 0 THEN 'urgent' ELSE 'normal' END, 'desk_phone',"
                " CASE WHEN g % 100 < 2 THEN 'received' WHEN g % 100 < 3 THEN 'screening'"
                "      WHEN g % 100 < 4 THEN 'assigned' WHEN g % 100 < 5 THEN 'in_progress'"
                "      WHEN g % 100 < 90 THEN 'done' ELSE 'cancelled' END,"
                " '{}', '{}', now() - (:n - g) * interval '5 minutes', now() - (:n - g) * interval '5 minutes',"
                " now() - (:n - g) * interval '5 minutes', 1"
                " FROM generate_series(1, :n) g"
            ),
            {"n": n_orders},
        )
    # Autovacuum has not run yet: set the visibility map (index-only scans) and the statistics now.
    async with database.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    return 1


async def _cursor_of_page(database: Database, *, page: int, size: int) -> str:
    """Return the `after=` cursor that opens page `page` of the 전체 tab (newest first)."""
    async with database.sessions() as s:
        row = (
            await s.execute(
                select(Order.created_at, Order.id)
                .where(Order.district_id == 1)
                .order_by(Order.created_at.desc(), Order.id.desc())  # type: ignore[attr-defined]
                .offset((page - 1) * size - 1)
                .limit(1)
            )
        ).one()
    return queue._encode("a", [row[0], row[1]])


async def _timed(client: httpx.AsyncClient, url: str) -> float:
    for _ in range(3):  # warm: templates compiled, plans cached
        await client.get(url)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        r = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return statistics.median(times)


async def main(url: str, n_orders: int, *, reuse: bool = False) -> int:
    if make_url(url).get_backend_name() != "postgresql":
        raise SystemExit("bench/desk_queue.py needs PostgreSQL (--url postgresql+asyncpg://…)")
    database = Database(url)
    started = time.perf_counter()
    if not reuse:
        await _load(database, n_orders)
        print(f"loaded {n_orders:,} orders in one district in {time.perf_counter() - started:.1f} s")
    page200 = await _cursor_of_page(database, page=200, size=queue.PAGE_SIZE)
    app = create_app(database=database, settings=Settings())
    results: list[tuple[str, float]] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        login = await client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        r = await client.post("/login", data={"username": "bench-desk", "password": PASSWORD, "login_token": token})
        assert r.status_code == 303, r.text[:300]
        checks: list[tuple[str, str]] = [
            ("baseline-healthz", "/healthz"),
            ("default", "/"),
            ("page200", f"/?tab=all&after={page200}&page=200"),
            ("sorted", "/?tab=all&sort=service"),
            ("poll", "/queue/poll"),
        ]
        first = await client.get(checks[2][1])
        assert "페이지" in first.text or "Page" in first.text
        for name, path in checks:
            results.append((name, await _timed(client, path)))
    await database.dispose()
    ok = True
    for name, ms in results:
        verdict = "PASS" if ms < TARGET_MS else "FAIL"
        ok = ok and verdict == "PASS"
        print(f"bench queue-{name}: {ms:.1f} ms (target {TARGET_MS:.0f}) {verdict}")
    return 0 if ok else 1


def _args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL database that may be emptied")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="measure the database loaded by the last run")
    return parser.parse_args()


if __name__ == "__main__":
    args = _args()
    raise SystemExit(asyncio.run(main(args.url, args.orders, reuse=args.reuse)))
