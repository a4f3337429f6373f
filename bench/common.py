"""What every benchmark of `make bench` shares: the context, the result line, the serve process.

A benchmark is a module `bench/bench_<name>.py` with

    ORDER = 50                      # lower runs first (memory reads what the others left: 90)
    async def run(ctx: Context) -> list[Result]: ...   # (a plain def works too)

`ctx.size` is "quick" or "full"; `ctx.db_url` a PostgreSQL database the run may empty;
`ctx.shared` a dict modules leave things in for later ones (e.g. the serve process).
Each Result prints one line: `bench <name>: <figure> (target <target>) PASS|FAIL [load …]`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SIZES = ("quick", "full")


def load_average() -> str:
    """Return the machine's 1-minute load average and its core count, as `uptime` shows them."""
    try:
        one = Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        one = "?"
    return f"load {one}/{os.cpu_count()} cores"


@dataclass
class Result:
    """One figure against its target; `passed` None means "not measured" (printed as NOT BUILT)."""

    name: str
    figure: str
    target: str
    passed: bool | None
    load: str = field(default_factory=load_average)
    note: str = ""

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "NOT BUILT"}[self.passed]
        extra = f" — {self.note}" if self.note else ""
        return f"bench {self.name}: {self.figure} (target {self.target}) {verdict} [{self.load}]{extra}"


@dataclass
class Context:
    size: str
    db_url: str
    shared: dict[str, Any] = field(default_factory=dict)
    fresh: bool = False  # reload the data even when the database already holds the right size
    profile: bool = False  # sample the serve process with py-spy where a benchmark offers it
    _procs: list[Serve] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.size == "full"

    def serve(self, **env: str) -> Serve:
        """Return the run's `dolbom serve --only web` on this database (started on first use)."""
        if "serve" not in self.shared:
            proc = Serve.start(self.db_url, **env)
            self._procs.append(proc)
            self.shared["serve"] = proc
        return self.shared["serve"]  # type: ignore[no-any-return]

    def close(self) -> None:
        for proc in self._procs:
            proc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Serve:
    """A `dolbom serve --only web` process (uvicorn) on a free port; its peak RSS from /proc."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, db_url: str, **env: str) -> Serve:
        port = free_port()
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"dolbom-bench-serve-{port}.log"
        environ = {
            **os.environ,
            "DOLBOM_DATABASE_URL": db_url,
            "DOLBOM_CONSOLE_HOST": "127.0.0.1",
            "DOLBOM_CONSOLE_PORT": str(port),
            **env,
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dolbom.cli", "serve", "--only", "web"],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        serve = cls(proc=proc, port=port, log=log)
        serve.wait_ready()
        return serve

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dolbom serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"dolbom serve did not answer in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the process has used so far, from /proc: load does not change it."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self, key: str = "VmRSS") -> float:
        """Return the process's resident memory (VmRSS) or its peak (VmHWM) in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{key} not in /proc/{self.proc.pid}/status")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def percentile(values: list[float], p: float) -> float:
    """Return the p-th percentile (0–100) of values, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def fresh_schema(db_url: str) -> None:
    """Empty the database and build the schema of this checkout (create_all, stamped at the migrations' head).

    create_all rather than the migrations: the schema is the code's even before the lead's migration
    of a branch exists; `dolbom serve` then finds the database at head and migrates nothing.
    """
    from sqlalchemy import text

    from storage import migrate, models
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
            await conn.run_sync(models.metadata.create_all)
            await conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
            for head in migrate.heads():
                await conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    finally:
        await engine.dispose()


async def loaded_orders(db_url: str) -> int:
    """Return how many orders the database holds (0 when it has no schema yet)."""
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            try:
                return int((await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one())
            except Exception:
                return 0
    finally:
        await engine.dispose()


QUICK_ORDERS = 200_000  # 5 districts of Seoul's size each (40,000 orders, 8,000 people): a district's figures hold
FULL_ORDERS = 1_000_000  # Seoul: 25 districts


async def ensure_data(ctx: Context) -> int:
    """Load the size's made-up Seoul (care.seoul) unless the database holds it already; return the orders."""
    from care import seoul
    from storage.db import Database

    want = FULL_ORDERS if ctx.full else QUICK_ORDERS
    if "orders" in ctx.shared:
        return int(ctx.shared["orders"])
    if ctx.fresh or await loaded_orders(ctx.db_url) != want:
        started = time.monotonic()
        await fresh_schema(ctx.db_url)
        database = Database(ctx.db_url)
        try:
            loaded = await seoul.load(database, scale=seoul.Scale(want))
        finally:
            await database.dispose()
        ctx.shared["load_seconds"] = time.monotonic() - started
        print(f"  loaded {want:,} orders in {time.monotonic() - started:.0f} s ({load_average()})", flush=True)
        print("  " + loaded.summary().replace("\n", "\n  "), flush=True)
    else:
        print(f"  reusing the {want:,} orders already in the database (--fresh reloads)", flush=True)
    ctx.shared["orders"] = want
    return want


def profile(pid: int, seconds: float, *, top: int = 12) -> list[str]:
    """Sample the process with py-spy for `seconds`; return its top frames (own time, then with callees).

    Needs py-spy (`pip install py-spy`) and the right to trace the process (root, or ptrace_scope 0);
    returns one line saying why not otherwise.
    """
    import shutil
    import tempfile
    from collections import Counter

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return ["py-spy is not installed (pip install py-spy)"]
    out = Path(tempfile.mkdtemp(prefix="dolbom-spy-")) / "stacks.txt"
    done = subprocess.run(
        [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format", "raw", "--rate", "200",
         "--output", str(out), "--nonblocking"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not out.exists():
        return [f"py-spy failed: {done.stderr.strip()[-300:]}"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            inclusive[f] += n
    if not total:
        return ["py-spy saw no samples"]
    lines = [f"{total} samples; own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("with callees (our code and the libraries' entry points):")
    ours = [(f, n) for f, n in inclusive.most_common() if _interesting(f)]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ours[:top]]
    return lines


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "dolbom" in parts or str(ROOT) in path:
        parts = Path(path).relative_to(ROOT).parts if path.startswith(str(ROOT)) else parts[-2:]
    return f"{name} ({'/'.join(parts[:3])})"


def _interesting(frame: str) -> bool:
    where = frame.rsplit("(", 1)[-1]
    if where.startswith("console/limits"):
        return False  # the middleware wraps every request: 100 % of busy time, says nothing
    return where.startswith(("care/", "console/", "storage/", "jinja2/environment", "sqlalchemy/orm/loading",
                             "asyncpg/connection", "asyncpg/prepared_stmt"))  # fmt: skip
