"""`dolbom serve`: console, bot and jobs in one event loop, or any one of them alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from fastapi import Depends

from dolbom import logs
from dolbom.i18n import N_
from dolbom.settings import Settings
from storage import migrate
from storage.db import Database

log = logging.getLogger("dolbom")
ROLES = ("web", "bot", "jobs")
STOP_GRACE_SECONDS = 8.0


class _Server(uvicorn.Server):
    # We own the signals: one SIGTERM stops every role, not only the web server.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_web_app(*, database: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """Return the console app with the bot's web routes mounted (webhook, web chat)."""
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


async def serve(*, settings: Settings, roles: tuple[str, ...] = ROLES) -> None:
    """Migrate, then run the roles until SIGTERM or SIGINT; stop them cleanly."""
    # Also when serve() is started without the CLI (tests, an embedding process).
    logs.install()
    await migrate.upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks: dict[str, asyncio.Task[None]] = {}
    server: _Server | None = None
    if "web" in roles:
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
        server = _Server(config)
        tasks["web"] = asyncio.create_task(server.serve(), name="web")
    if "bot" in roles:
        from bot import runtime as bot_runtime

        tasks["bot"] = asyncio.create_task(bot_runtime.run(database=database, settings=settings, stop=stop), name="bot")
    if "jobs" in roles:
        from jobs import runtime as jobs_runtime

        tasks["jobs"] = asyncio.create_task(
            jobs_runtime.run(database=database, settings=settings, stop=stop), name="jobs"
        )
    log.info("dolbom serving %s", ", ".join(tasks))

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopper, *tasks.values()}, return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
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
    await database.dispose()
    log.info("dolbom stopped")
    if failed:
        raise SystemExit(1)
