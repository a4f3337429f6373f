"""memory — the serve process's peak resident memory (VmHWM) over the runs before it.

Reads /proc of the `dolbom serve --only web` the earlier benchmarks used (console; intake too when
it drives the same process). Baseline in the same run: a fresh `dolbom serve --only web` on the
same database that answered only /healthz (what the process costs before any page). Target < 250 MB.
"""

from __future__ import annotations

from bench.common import Context, Result, Serve

ORDER = 90  # last: it reads what the others left
TARGET_MB = 250.0


def run(ctx: Context) -> list[Result]:
    serve = ctx.shared.get("serve")
    if serve is None:
        return [Result("memory", "no serve process ran (run console first)", f"< {TARGET_MB:.0f} MB", False)]
    peak, now = serve.rss_mb("VmHWM"), serve.rss_mb("VmRSS")
    idle = Serve.start(ctx.db_url)
    try:
        base = idle.rss_mb("VmHWM")
    finally:
        idle.stop()
    ran = ", ".join(k for k in ("console", "intake") if k in ctx.shared) or "nothing"
    return [
        Result(
            "memory",
            f"peak {peak:.0f} MB over {ran} (now {now:.0f} MB; a fresh process after /healthz: {base:.0f} MB)",
            f"< {TARGET_MB:.0f} MB",
            peak < TARGET_MB,
        )
    ]
