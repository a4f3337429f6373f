"""Crash: kill -9 of `dolbom serve` → the bot answering again (bench/recovery.py, reused as it is).

    .venv/bin/python bench/bench_crash.py [--size quick|full] [--db-url URL]   (or via bench/run.py)

On the large database when ctx.db_url holds one (at least LARGE_ORDERS orders: the Seoul-scale
data `make bench` loads; nothing is added to it), else on a fresh SQLite file with the demo
district. All roles, as `make run` starts them. Quick: 3 kills; full: 5. Target: every restart
answers within 3 s of the kill. The figure is wall time, so the machine's load is printed with it;
the CPU the restarted process used until its answer is in the note.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import asyncio
import contextlib
import io
import os
import re
from typing import Any

ORDER = 80  # after the console and intake runs: it restarts serve processes of its own
KILLS = {"quick": 3, "full": 5}
TARGET_S = 3.0
LARGE_ORDERS = 100_000


async def _orders(url: str) -> int:
    """How many orders the database holds (0 when it has no schema yet or cannot be reached)."""
    from sqlalchemy import text

    from storage.db import Database

    database = Database(url)
    try:
        async with database.sessions() as session:
            return int((await session.execute(text("SELECT count(*) FROM orders"))).scalar_one())
    except Exception:
        return 0
    finally:
        await database.dispose()


class _AlreadyLoaded:
    def summary(self) -> str:
        return ""


async def measure(url: str | None, kills: int) -> tuple[list[float], list[float], str, int]:
    """Run bench/recovery.py's kills; return (seconds per kill, CPU seconds per restart, its output, exit code)."""
    from bench import recovery

    out = io.StringIO()
    with contextlib.ExitStack() as stack:
        if url is not None:
            # The large database is used as it is: no demo district added to it.
            async def no_demo(_database: Any) -> _AlreadyLoaded:
                return _AlreadyLoaded()

            stack.enter_context(_patched(recovery.demo, "load", no_demo))
        stack.enter_context(contextlib.redirect_stdout(out))
        code = await recovery.main(kills, url)
    text_ = out.getvalue()
    seconds = [float(s) for s in re.findall(r"kill -9 → answer ([0-9.]+) s", text_)]
    cpu = [float(s) for s in re.findall(r"used ([0-9.]+) s of CPU", text_)]
    return seconds, cpu, text_, code


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Any:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


async def run(ctx: Any) -> list[Any]:
    """The crash figure for ctx.size."""
    import statistics

    from bench.common import Result

    orders = await _orders(ctx.db_url)
    large = orders >= LARGE_ORDERS
    where = f"PostgreSQL, {orders:,} orders" if large else "SQLite, demo district (no large database)"
    kills = KILLS[ctx.size]
    seconds, cpu, output, _code = await measure(ctx.db_url if large else None, kills)
    if len(seconds) < kills:
        tail = " | ".join(output.strip().splitlines()[-3:])
        return [Result("crash", f"{len(seconds)} of {kills} restarts answered ({where}): {tail}"[:300], "< 3 s", False)]
    median, worst = statistics.median(seconds), max(seconds)
    return [
        Result(
            "crash",
            f"kill -9 → answering again: median {median:.2f} s, max {worst:.2f} s over {kills} kills ({where})",
            f"< {TARGET_S:g} s",
            worst < TARGET_S,
            note=f"CPU of the restarted process until its answer: median {statistics.median(cpu):.2f} s",
        )
    ]


if __name__ == "__main__":
    import argparse

    from bench.common import DEFAULT_URL, Context

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("quick", "full"), default="quick")
    parser.add_argument("--db-url", default=os.environ.get("DOLBOM_BENCH_DATABASE_URL") or DEFAULT_URL)
    args = parser.parse_args()
    for line in asyncio.run(run(Context(size=args.size, db_url=args.db_url))):
        print(line.line())
