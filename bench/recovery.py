"""How soon the bot answers again after `dolbom serve` is killed with SIGKILL (the demo district loaded).

    .venv/bin/python bench/recovery.py [--runs 5] [--db-url URL]

Loads `dolbom demo` into a fresh SQLite file (or the database at --db-url, e.g. PostgreSQL),
starts `dolbom serve` (web + bot + jobs, as `make run` does) against the stand-in Bot API on
loopback, and then, --runs times: kills it with SIGKILL, lets a person write /start while it is
down, starts it again at once and times kill → the answer reaching "Telegram". Prints each run,
the machine's load (the figure is wall time) and

    bench recovery: median <s> max <s> (target 2.0) PASS|FAIL
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stand-in Bot API lives with the tests

from alembic import command  # noqa: E402

from dolbom import demo  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database, is_sqlite  # noqa: E402
from tests.conftest import prepare  # noqa: E402
from tests.e2e.botapi import Person, StandIn  # noqa: E402
from tests.e2e.process import serve_env, start_serve, stop  # noqa: E402

TARGET_S = 2.0
FIRST_ANSWER = "무엇을 도와 드릴까요?"


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far; Linux /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _answered(person: Person, since: float, limit: float) -> float | None:
    got = await person.wait_for(FIRST_ANSWER, since=since, limit=limit)
    return None if got is None else got.at


async def main(runs: int, db_url: str | None, only: str | None = None, wipe: bool = False) -> int:
    url = db_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='dolbom-recovery-')) / 'bench.db'}"
    engine = "SQLite" if is_sqlite(url) else "PostgreSQL"
    if is_sqlite(url) or wipe:
        # A fresh schema as the tests make it (create_all, stamped at head): the models may be
        # ahead of the last generated migration between merges, and `serve` then migrates nothing.
        await prepare(url)
        await asyncio.to_thread(command.stamp, migrate.alembic_config(url), "head")
    else:
        await migrate.upgrade_async(url)
    database = Database(url)
    try:
        result = await demo.load(database)
    finally:
        await database.dispose()
    print(f"{engine}, demo district: {result.summary().splitlines()[0] if result.summary() else 'already loaded'}")

    # As installed: the project's modules compiled once (this machine's environment sets
    # PYTHONDONTWRITEBYTECODE, which would make every start compile them from source again).
    for package in ("bot", "care", "console", "dolbom", "jobs", "storage"):
        compileall.compile_dir(ROOT / package, quiet=1)
    api = await StandIn().start()
    log = Path(tempfile.mkdtemp(prefix="dolbom-recovery-log-")) / "serve.log"
    env = serve_env(url, api.url)
    args = ("--only", only) if only else ()
    proc = start_serve(env, log, *args)
    times: list[float] = []
    cpu: list[float] = []
    try:
        first = Person(api, 9_100_000)
        started = time.monotonic()
        first.say("/start")
        if await _answered(first, started, 180) is None:
            print(f"the bot never answered; see {log}")
            return 2
        print(f"first start (cold, with the demo loaded): {time.monotonic() - started:.2f} s")
        for n in range(runs):
            await asyncio.sleep(1.5)  # let the jobs' first runs settle, as in a running desk
            person = Person(api, 9_100_001 + n)
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            person.say("/start")  # someone writes while the bot is down
            proc = start_serve(env, log, *args)
            at = await _answered(person, killed, 120)
            if at is None:
                print(f"run {n + 1}: no answer within 120 s; see {log}")
                return 2
            times.append(at - killed)
            cpu.append(_cpu_seconds(proc.pid))
            print(f"run {n + 1}: kill -9 → answer {times[-1]:.2f} s (the new process used {cpu[-1]:.2f} s of CPU)")
    finally:
        code = await asyncio.to_thread(stop, proc)
        await api.stop()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; last exit code {code}")
    print(f"CPU used by the restarted process until its answer: median {statistics.median(cpu):.2f} s")
    median, worst = statistics.median(times), max(times)
    verdict = "PASS" if median < TARGET_S and worst < TARGET_S else "FAIL"
    print(f"bench recovery: median {median:.2f} s max {worst:.2f} s (target {TARGET_S}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db-url", help="database to use (default: a fresh SQLite file)")
    parser.add_argument("--only", choices=["bot"], help="serve the bot role alone (to see what the others cost)")
    parser.add_argument("--wipe", action="store_true", help="PostgreSQL: a fresh schema first (test database)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.db_url, args.only, args.wipe)))
