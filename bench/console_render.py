"""How fast the desk's main pages render with the demo district loaded (SQLite by default).

    .venv/bin/python bench/console_render.py [--runs 30] [--db PATH]

Loads `dolbom demo` into a fresh SQLite file (or reuses --db), signs in as the demo desk
operator through the real app (httpx + ASGI, no network) and prints the median and p90
render time of: the queue, the queue filtered, a queue search, the poll, and order pages.
The target is under 300 ms per page; the script says whether each figure meets it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from console.app import create_app
from dolbom import demo
from dolbom.settings import Settings
from storage import migrate
from storage.db import Database
from storage.models import Order

TARGET_MS = 300.0


async def _timed(client: httpx.AsyncClient, runs: int, method: str, url: str, **kw: Any) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        r = await client.request(method, url, **kw)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code in (200, 303), (url, r.status_code, r.text[:300])
    return times


async def main(runs: int, db_path: Path | None) -> int:
    path = db_path or Path(tempfile.mkdtemp(prefix="dolbom-bench-")) / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    # The schema as production builds it, so `dolbom serve` can open the same file afterwards.
    await migrate.upgrade_async(url)
    database = Database(url)
    started = time.perf_counter()
    result = await demo.load(database)
    print(f"demo district: {result.summary().splitlines()[0] if result.summary() else ''}")
    print(f"  loaded in {time.perf_counter() - started:.1f} s into {path}")
    async with database.sessions() as s:
        orders = list((await s.execute(select(Order).order_by(col(Order.id)))).scalars())
    open_order = next((o for o in orders if o.status in ("received", "screening")), orders[-1])
    busy_order = max(orders, key=lambda o: o.version)
    print(f"  {len(orders)} orders")

    app = create_app(database=database, settings=Settings())
    figures: list[tuple[str, list[float]]] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        login = await client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        r = await client.post("/login", data={"username": "mapo-desk", "password": demo.PASSWORD, "login_token": token})
        assert r.status_code == 303, r.text
        page = await client.get("/")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        await _timed(client, 3, "GET", "/")  # warm up caches and the template compiler
        # The baseline, measured in the same run: a request that does almost nothing.
        baseline = statistics.median(await _timed(client, runs, "GET", "/healthz"))
        figures.append(("queue (open orders)", await _timed(client, runs, "GET", "/")))
        figures.append(("queue, every status 'done'", await _timed(client, runs, "GET", "/?status=done")))
        figures.append(("queue, urgent meals", await _timed(client, runs, "GET", "/?service=meals&urgency=urgent")))
        figures.append(("queue rows (refresh)", await _timed(client, runs, "GET", "/queue/rows")))
        figures.append(("queue poll", await _timed(client, runs, "GET", "/queue/poll")))
        figures.append(
            (
                "queue search by name",
                await _timed(client, runs, "POST", "/queue/search", data={"q": "김", "csrf_token": csrf}),
            )
        )
        figures.append(
            (f"order page (open, {open_order.status})", await _timed(client, runs, "GET", f"/orders/{open_order.id}"))
        )
        figures.append(
            (
                f"order page (longest history, v{busy_order.version})",
                await _timed(client, runs, "GET", f"/orders/{busy_order.id}"),
            )
        )
    await database.dispose()

    print(
        f"\nmedian and p90 of {runs} runs each (target < {TARGET_MS:.0f} ms);"
        f" x = median / GET /healthz ({baseline:.1f} ms):"
    )
    worst = 0.0
    for name, times in figures:
        med = statistics.median(times)
        p90 = sorted(times)[int(len(times) * 0.9) - 1]
        worst = max(worst, med)
        verdict = "ok" if med < TARGET_MS else "SLOW"
        print(f"  {name:<42} median {med:7.1f} ms   p90 {p90:7.1f} ms   x{med / baseline:5.1f}   {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", type=Path, default=None, help="an SQLite file to use (the demo is loaded once)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.runs, args.db)))
