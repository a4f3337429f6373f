"""`dolbom serve`: console, bot and jobs in one event loop, or any one of them alone.

Start-up order is chosen for the time from a crash to the bot answering again (issue 10): the
schema is migrated only when it is behind (storage.migrate.upgrade_if_behind), the bot role
starts first with aiogram's validators built on first use and the garbage collector off while
its modules are imported (dolbom.startup), and the console's
and the jobs' modules are imported on a worker thread once the bot has answered the people who
wrote while it was down (or after BOT_FIRST_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from dolbom import logs, startup
from dolbom.i18n import N_
from dolbom.settings import Settings
from storage import migrate
from storage.db import Database

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("dolbom")
ROLES = ("web", "bot", "jobs")
STOP_GRACE_SECONDS = 8.0
CHARTS_WARM_SECONDS = 30.0  # matplotlib is imported this long after start (console/charts.py)
BOT_FIRST_SECONDS = 10.0  # the other roles wait at most this long for the bot to catch up
MAX_RESTARTS = 5  # per role and process; beyond that the process exits 1 for its supervisor
# What each role imports before it can start; the roles other than the bot load on a thread.
ROLE_MODULES = {
    "web": ("uvicorn", "fastapi", "console.app", "bot.runtime"),
    "jobs": ("apscheduler.schedulers.asyncio", "jobs.runtime"),
}


def _server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        # We own the signals: one SIGTERM stops every role, not only the web server.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def _import_roles(roles: tuple[str, ...]) -> None:
    for role in roles:
        for name in ROLE_MODULES.get(role, ()):
            importlib.import_module(name)


def build_web_app(*, database: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """Return the console app with the bot's web routes mounted (webhook, web chat)."""
    from fastapi import Depends

    from bot import runtime as bot_runtime
    from console import app as console_app

    app = console_app.create_app(database=database, settings=settings)
    guard = getattr(app.state, "require_operator", None)
    for router in bot_runtime.web_routers(database=database, settings=settings):
        needs_operator = getattr(router, "operators_only", False)
        deps = [Depends(guard)] if needs_operator and guard is not None else []
        app.include_router(router, dependencies=deps)
        if any(getattr(route, "path", None) == "/chat" for route in router.routes):
            app.state.nav.append(("/chat", N_("Web chat"), ("admin", "operator")))
    return app


async def _announce_first_run(database: Database, settings: Settings) -> None:
    """Print the one-time link that creates the first admin, while no operator exists."""
    from sqlalchemy.exc import DBAPIError

    from care import first_run

    try:
        async with database.transaction() as session:
            token = await first_run.issue_if_needed(session)
    except DBAPIError as err:  # a schema without the links table yet: the console still starts
        log.warning("could not make the first-run link (%s); use `dolbom operator add`", type(err.orig).__name__)
        return
    if token is not None:
        url = first_run.link(token, host=settings.console_host, port=settings.console_port)
        print(
            "\nNo operator exists yet. Open this link within one hour to create the first administrator"
            f" (it works once):\n\n    {url}\n\n(`dolbom operator add` works too.)\n",
            flush=True,
        )


async def _warm_charts(stop: asyncio.Event) -> None:
    """Import matplotlib for the statistics charts a while after start, off the event loop.

    Not at start: the bot's first answers after a restart come first (decision 0017), and a
    process that is stopped soon never pays for it.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), CHARTS_WARM_SECONDS)
        return
    try:
        from console import charts

        await asyncio.to_thread(charts.warm)
    except Exception:  # the charts then load on the first statistics page instead
        log.warning("the charts could not be prepared", exc_info=True)


async def serve(*, settings: Settings, roles: tuple[str, ...] = ROLES) -> None:
    """Migrate if behind, then run the roles until SIGTERM or SIGINT; stop them cleanly."""
    # Also when serve() is started without the CLI (tests, an embedding process).
    logs.install()
    database = Database(settings.database_url)
    if await migrate.upgrade_if_behind(database):
        log.info("database migrated to the newest schema")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks: dict[str, asyncio.Task[Any]] = {}
    starts: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}  # the roles that may be restarted
    server: uvicorn.Server | None = None
    if settings.telegram_token and ("bot" in roles or settings.telegram_mode == "webhook"):
        startup.defer_aiogram_validators()
        importlib.import_module("bot.telegram")
    startup.resume_gc()  # the collector was off for the imports (dolbom.cli), not for the answers
    if "bot" in roles:
        from bot import runtime as bot_runtime

        bot_ready = asyncio.Event()
        starts["bot"] = lambda: bot_runtime.run(database=database, settings=settings, stop=stop, ready=bot_ready)
        tasks["bot"] = asyncio.create_task(starts["bot"](), name="bot")
        # The other roles load once the bot has answered who wrote while it was down (or after
        # BOT_FIRST_SECONDS): importing them on a thread meanwhile would take the interpreter
        # from the bot for seconds.
        waiters = {asyncio.create_task(bot_ready.wait()), asyncio.create_task(stop.wait())}
        await asyncio.wait({*waiters, tasks["bot"]}, timeout=BOT_FIRST_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    if "web" in roles:
        # The web role's business, so after the bot's first answers like the rest of it (decision 0019).
        await _announce_first_run(database, settings)
    others = tuple(r for r in roles if r != "bot")
    if others:
        await asyncio.to_thread(_import_roles, others)
    if "web" in roles:
        import uvicorn

        app = build_web_app(database=database, settings=settings)
        config = uvicorn.Config(
            app,
            host=settings.console_host,
            port=settings.console_port,
            log_level="info",
            # The console believes forwarded headers itself, from DOLBOM_TRUSTED_PROXIES only
            # (console/proxies.py); uvicorn's own rule would trust 127.0.0.1 by default.
            proxy_headers=False,
            lifespan="on",
        )
        server = _server(config)
        tasks["web"] = asyncio.create_task(server.serve(), name="web")
    if "jobs" in roles:
        from jobs import runtime as jobs_runtime

        starts["jobs"] = lambda: jobs_runtime.run(database=database, settings=settings, stop=stop)
        tasks["jobs"] = asyncio.create_task(starts["jobs"](), name="jobs")
    # Everything every role needs is imported now: keep it out of later full collections.
    startup.settle_heap()
    log.info("dolbom serving %s", ", ".join(tasks))
    warming = asyncio.create_task(_warm_charts(stop), name="charts") if "web" in roles else None

    stopper = asyncio.create_task(stop.wait())
    failed: list[asyncio.Task[Any]] = []
    restarts: dict[str, int] = {}
    while not failed:
        done, _ = await asyncio.wait({stopper, *tasks.values()}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            break
        ended = [t for t in done if t.cancelled() or t.exception() is None]
        if ended:  # a role that returns on its own is not running any more: stop everything
            break
        for task in done:
            name = task.get_name()
            count = restarts.get(name, 0)
            if name in starts and count < MAX_RESTARTS:
                # A transient failure (a locked SQLite file at start, a dropped connection) of the
                # jobs must not take the bot down with it, nor the other way round.
                restarts[name] = count + 1
                delay = min(2.0**count, 30.0)
                log.error(
                    "role %s stopped with an error; starting it again in %.0f s", name, delay, exc_info=task.exception()
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopper), delay)
                if stop.is_set():
                    break
                tasks[name] = asyncio.create_task(starts[name](), name=name)
            else:
                failed.append(task)
    for task in failed:
        log.error("role %s stopped with an error", task.get_name(), exc_info=task.exception())
    stop.set()
    if server is not None:
        server.should_exit = True
    pending = [t for t in tasks.values() if not t.done()]
    if pending:
        _, still = await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
    stopper.cancel()
    if warming is not None:
        warming.cancel()
    await database.dispose()
    log.info("dolbom stopped")
    if failed:
        raise SystemExit(1)
