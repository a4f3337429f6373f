"""`make bench` / `make bench-full`: run every bench/bench_*.py and print one line per figure.

    .venv/bin/python bench/run.py [--size quick|full] [--db-url URL] [--only console,memory] [--fresh] [--profile]

The database (default DOLBOM_BENCH_DATABASE_URL, else the `test` database) is emptied and
loaded with the Seoul-scale data when it does not hold the size asked for. Exit code 1 when a
figure misses its target (every line is printed first).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, this folder would come first on the path (a module here could shadow the standard
# library, as bench/queue.py once shadowed `queue`): the checkout's root comes first instead.
if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import importlib
import inspect
import os
import time
import traceback

from bench.common import DEFAULT_URL, SIZES, Context, Result, load_average


def discover(only: set[str] | None = None) -> list[object]:
    """Return the benchmark modules (bench/bench_*.py) in their ORDER."""
    found = []
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        found.append(importlib.import_module(f"bench.{path.stem}"))
    return sorted(found, key=lambda m: getattr(m, "ORDER", 50))


async def _run(module: object, ctx: Context) -> list[Result]:
    result = module.run(ctx)  # type: ignore[attr-defined]
    if inspect.isawaitable(result):
        result = await result
    return list(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="quick")
    parser.add_argument("--db-url", default=os.environ.get("DOLBOM_BENCH_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--only", help="comma-separated benchmark names (console,memory,…)")
    parser.add_argument("--fresh", action="store_true", help="reload the data even when it is there")
    parser.add_argument("--profile", action="store_true", help="also sample the serve process with py-spy")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    ctx = Context(size=args.size, db_url=args.db_url, fresh=args.fresh, profile=args.profile)
    lines: list[Result] = []
    started = time.monotonic()
    print(f"bench: size {args.size}, {load_average()}, database {args.db_url.rsplit('@', 1)[-1]}", flush=True)
    try:
        for module in discover(only):
            name = module.__name__.removeprefix("bench.bench_")
            t0 = time.monotonic()
            try:
                got = asyncio.run(_run(module, ctx))
            except Exception as err:  # one broken benchmark must not hide the others' lines
                traceback.print_exc()
                got = [Result(name, f"error: {type(err).__name__}: {err}"[:200], "runs", False)]
            for r in got:
                print(r.line(), flush=True)
            lines += got
            print(f"  ({name}: {time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        ctx.close()
    print(f"bench: {len(lines)} figures in {time.monotonic() - started:.0f} s, {load_average()}")
    return 1 if any(r.passed is False for r in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
