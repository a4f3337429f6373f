"""console — the desk's pages through uvicorn (`dolbom serve --only web`) with a signed-in client.

For a district operator (desk-01) and the all-district admin (seoul-admin): the queue's default
view, page 200 of every order, two filtered views, the 15-second poll, search by name and by the
phone's last 4 digits, an order page and the statistics month. Each page: p50/p95 over the runs,
and the baseline measured in the same run — the very SQL statements the page executed (captured
from the real route in this process), replayed directly on one asyncpg connection. The ratio is
page p50 / SQL p50. Targets: p95 < 50 ms (district operator) / < 150 ms (admin) at Seoul scale;
ratio ≤ 2. The statistics month (one district, last month; the admin picks district 1) has its own
target, p95 < 1 s. Each line also gives the serve process's CPU time per request (from /proc,
which the machine's load does not change, unlike the wall-clock figures).
"""

from __future__ import annotations

import os
import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event, text

from bench.common import Context, Result, ensure_data, load_average, percentile, profile

ORDER = 20
RUNS = {"quick": 30, "full": 60}
USERS = (("desk", "desk-01", 50.0), ("admin", "seoul-admin", 150.0))
RATIO = 2.0
WARM = 3
STATISTICS_TARGET = 1000.0  # ms, p95 of the statistics month, either user
STATISTICS_RUNS = {"quick": 5, "full": 10}


@dataclass
class Page:
    name: str
    method: str
    path: str
    form: dict[str, str] | None = None


async def _sign_in(client: httpx.AsyncClient, username: str) -> str:
    """Sign in; return the session's CSRF token."""
    from care import seoul

    login = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', login.text)
    assert token, login.text[:300]
    r = await client.post(
        "/login", data={"username": username, "password": seoul.PASSWORD, "login_token": token.group(1)}
    )
    assert r.status_code == 303, (r.status_code, r.text[:300])
    page = await client.get("/")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    return csrf.group(1)


async def _picks(db_url: str, district_id: int | None) -> dict[str, Any]:
    """Return what the pages ask for in this scope: page 200's cursor, a 동, a name, 4 digits, an open order."""
    from care import queue
    from storage.db import make_engine

    engine = make_engine(db_url)
    scope = "" if district_id is None else f"AND o.district_id = {int(district_id)}"
    rscope = "" if district_id is None else f"AND r.district_id = {int(district_id)}"
    try:
        async with engine.connect() as conn:
            created, oid = (
                await conn.execute(
                    text(
                        f"SELECT created_at, id FROM orders o WHERE true {scope}"
                        " ORDER BY created_at DESC, id DESC OFFSET :n LIMIT 1"
                    ),
                    {"n": 199 * queue.PAGE_SIZE - 1},
                )
            ).one()
            dong = (await conn.execute(text(f"SELECT min(r.dong_id) FROM residents r WHERE true {rscope}"))).scalar()
            name, phone = (
                await conn.execute(
                    text(
                        "SELECT r.name, r.phone FROM residents r JOIN orders o ON o.resident_id = r.id"
                        f" WHERE o.status = 'received' {scope} ORDER BY o.id LIMIT 1"
                    )
                )
            ).one()
            open_order = (
                await conn.execute(
                    text(f"SELECT o.id FROM orders o WHERE o.status = 'screening' {scope} ORDER BY o.id DESC LIMIT 1")
                )
            ).scalar()
    finally:
        await engine.dispose()
    from dolbom import clock

    today = clock.today()
    last_month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return {
        "month": f"{last_month[0]:04d}-{last_month[1]:02d}",
        "after": queue._encode("a", [created, oid]),
        "dong": dong,
        "name": name,
        "last4": phone[-4:],
        "order": open_order,
    }


def _pages(p: dict[str, Any]) -> list[Page]:
    return [
        Page("default", "GET", "/"),
        Page("page200", "GET", f"/?tab=all&after={p['after']}&page=200"),
        Page("filter-service-urgent", "GET", "/?tab=desk&service=meals&urgency=urgent"),
        Page("filter-dong-age", "GET", f"/?tab=providers&dong={p['dong']}&age=3"),
        Page("poll", "GET", "/queue/poll"),
        Page("search-name", "POST", "/queue/search", {"q": p["name"]}),
        Page("search-last4", "POST", "/queue/search", {"q": p["last4"]}),
        Page("order", "GET", f"/orders/{p['order']}"),
        # One district, one month (an operator's own district; the admin picks district 1).
        Page("statistics-month", "GET", f"/statistics?period=month&month={p['month']}&district=1"),
    ]


async def _request(client: httpx.AsyncClient, page: Page, csrf: str) -> httpx.Response:
    if page.method == "POST":
        r = await client.post(page.path, data={**(page.form or {}), "csrf_token": csrf})
    else:
        r = await client.get(page.path)
    assert r.status_code == 200, (page.name, r.status_code, r.text[:300])
    return r


async def _capture(db_url: str, username: str, pages: list[Page]) -> dict[str, list[tuple[str, Any]]]:
    """Return the SQL statements (with their parameters) each page runs, from the real route in this process."""
    from console.app import create_app
    from dolbom.settings import Settings
    from storage.db import Database

    database = Database(db_url)
    recording: list[tuple[str, Any]] | None = None

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if recording is not None and not executemany:
            recording.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    app = create_app(database=database, settings=Settings())
    captured: dict[str, list[tuple[str, Any]]] = {}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            csrf = await _sign_in(client, username)
            for page in pages:
                await _request(client, page, csrf)  # warm: the session's own reads settle
                recording = []
                await _request(client, page, csrf)
                captured[page.name] = recording
                recording = None
    finally:
        await database.dispose()
    return captured


async def _replay(db_url: str, statements: list[tuple[str, Any]], runs: int) -> list[float]:
    """Return the times (ms) of running the statements directly on one asyncpg connection, in a transaction."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    times: list[float] = []
    try:
        for i in range(runs + WARM):
            started = time.perf_counter()
            async with conn.transaction():
                for sql, params in statements:
                    await conn.fetch(sql, *(params or ()))
            if i >= WARM:
                times.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return times


async def _timed(client: httpx.AsyncClient, page: Page, csrf: str, runs: int) -> list[float]:
    for _ in range(WARM):
        await _request(client, page, csrf)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await _request(client, page, csrf)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def run(ctx: Context) -> list[Result]:
    from sqlalchemy.engine import make_url

    if make_url(ctx.db_url).get_backend_name() != "postgresql":
        return [Result("console", "needs PostgreSQL", "PostgreSQL", False)]
    await ensure_data(ctx)
    serve = ctx.serve()
    runs = int(os.environ.get("DOLBOM_BENCH_RUNS") or RUNS[ctx.size])
    results: list[Result] = []
    figures: dict[str, dict[str, float]] = {}
    for who, username, target in USERS:
        district = 1 if who == "desk" else None
        pages = _pages(await _picks(ctx.db_url, district))
        captured = await _capture(ctx.db_url, username, pages)
        async with httpx.AsyncClient(base_url=serve.url, timeout=30) as client:
            csrf = await _sign_in(client, username)
            # The floor under this machine's load: a request that reads nothing (no SQL, no template).
            floor = await _timed(client, Page("healthz", "GET", "/healthz"), csrf, runs)
            print(
                f"  console-{who} floor: /healthz p50 {statistics.median(floor):.1f} ms,"
                f" p95 {percentile(floor, 95):.1f} ms ({load_average()})",
                flush=True,
            )
            figures[f"{who}-healthz"] = {"p50": statistics.median(floor), "p95": percentile(floor, 95)}
            for page in pages:
                stats = page.name == "statistics-month"
                n = int(os.environ.get("DOLBOM_BENCH_RUNS") or STATISTICS_RUNS[ctx.size]) if stats else runs
                cpu_before = serve.cpu_seconds()
                times = await _timed(client, page, csrf, n)
                cpu = (serve.cpu_seconds() - cpu_before) * 1000 / (n + WARM)
                sql = await _replay(ctx.db_url, captured[page.name], n)
                p50, p95 = statistics.median(times), percentile(times, 95)
                s50 = statistics.median(sql)
                ratio = p50 / s50 if s50 else float("inf")
                n_sql = len(captured[page.name])
                figures[f"{who}-{page.name}"] = {
                    "p50": p50, "p95": p95, "sql_p50": s50, "statements": n_sql, "cpu_ms": cpu,
                }  # fmt: skip
                figure = (
                    f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; serve CPU {cpu:.1f} ms/request;"
                    f" SQL alone {s50:.1f} ms ({n_sql} statements), ratio {ratio:.1f}"
                )
                if stats:
                    verdict = f"p95 < {STATISTICS_TARGET:.0f} ms"
                    results.append(Result(f"console-{who}-{page.name}", figure, verdict, p95 < STATISTICS_TARGET))
                else:
                    verdict = f"p95 < {target:.0f} ms, ratio ≤ {RATIO:.0f}"
                    passed = p95 < target and ratio <= RATIO
                    results.append(Result(f"console-{who}-{page.name}", figure, verdict, passed))
        if ctx.profile:
            # Where the serve process spends a page's time: py-spy while the default view is asked for again and again.
            async with httpx.AsyncClient(base_url=serve.url, timeout=30) as client:
                csrf = await _sign_in(client, username)
                for page in (pages[0], pages[4]):
                    print(f"  py-spy of console-{who}-{page.name} (15 s):", flush=True)
                    for line in await _profiled(client, page, csrf, serve.proc.pid):
                        print("    " + line, flush=True)
    ctx.shared["console"] = figures
    return results


async def _profiled(client: httpx.AsyncClient, page: Page, csrf: str, pid: int, seconds: float = 15) -> list[str]:
    """Return py-spy's top frames of the serve process while the page is asked for without pause."""
    import asyncio

    spy = asyncio.create_task(asyncio.to_thread(profile, pid, seconds))
    n = 0
    while not spy.done():
        await _request(client, page, csrf)
        n += 1
    return [f"{n} requests", *spy.result()]
