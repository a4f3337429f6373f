"""The desk console: a FastAPI app of server-rendered Korean pages."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from care.residents import OutOfDistrict
from console import web
from console.proxies import TrustedProxies
from dolbom.errors import (
    AppError,
    ConflictError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RegistrationNumberRefused,
    RuleViolation,
)
from dolbom.i18n import N_, gettext
from dolbom.settings import Settings, get_settings
from storage.db import Database

log = logging.getLogger(__name__)

# The console's areas, one router module each (console/routes/<area>.py). A module has
# `router` and may have `NAV = [(path, msgid, roles)]` for the menu. Add a line to add an area.
ROUTER_MODULES = [
    "console.routes.auth",
    "console.routes.queue",
    "console.routes.orders",
    "console.routes.intake",
    "console.routes.residents",
    "console.routes.providers",
    "console.routes.admin",
    "console.routes.checkins",
    "console.routes.api",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


HSTS = "max-age=31536000"


def _message(err: AppError) -> str:
    params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return gettext(err.msgid, **params)


def _status(err: AppError) -> int:
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, PermissionDenied):
        return 403
    if isinstance(err, ConflictError):
        return 409
    if isinstance(err, RegistrationNumberRefused):
        return 422
    if isinstance(err, InvalidInput):
        return 400
    if isinstance(err, RuleViolation):
        return 422
    return 400


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return web.render(request, "error.html", status_code=status, message=message, status=status)


def create_app(*, database: Database, settings: Settings | None = None) -> FastAPI:
    """Return the console app bound to a database."""
    settings = settings or get_settings()
    # Swagger UI would load from a CDN (and break the CSP): /api/docs is our own page (routes/api.py).
    # The OpenAPI document is served below, for signed-in operators only (decision 0010).
    app = FastAPI(title="dolbom 통합창구", docs_url=None, openapi_url=None, redoc_url=None)
    app.state.database = database
    app.state.settings = settings
    # The bot's web chat (and any other operators-only router) is mounted with this dependency.
    app.state.require_operator = web.require_operator
    app.state.nav = []
    # How often the queue page asks whether something changed (tests shorten it).
    app.state.queue_poll_seconds = 15

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        try:
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # the probe must answer, whatever the database says
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(web.require_operator)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router)
        app.state.nav.extend(getattr(module, "NAV", []))
    app.mount("/static", StaticFiles(directory=web.HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            # Pages and API answers carry personal data: never keep them in a cache.
            h["Cache-Control"] = "no-store"
        if web.is_https(request):
            # Every answer, errors and redirects included: a browser that once reached us over
            # HTTPS never again sends a session cookie in clear. Not includeSubDomains: the
            # district's other hosts are not ours to commit (decision 0010).
            h.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.exception_handler(web.SignInRequired)
    async def _sign_in(request: Request, _exc: web.SignInRequired) -> Response:
        # /api/docs is a page people open in a browser: send them to sign in like any page.
        page = request.url.path == "/api/docs" and request.method == "GET"
        if (_wants_json(request) and not page) or request.headers.get("x-dolbom-poll") == "1":
            return JSONResponse({"error": gettext(N_("Please sign in again."))}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(web.PasswordChangeRequired)
    async def _password_change(request: Request, _exc: web.PasswordChangeRequired) -> Response:
        message = gettext(N_("Please change your password first."))
        if _wants_json(request) or request.headers.get("x-dolbom-poll") == "1":
            return JSONResponse({"error": message}, status_code=403)
        return RedirectResponse(web.PASSWORD_PAGE, status_code=303)

    @app.exception_handler(web.CsrfFailed)
    async def _csrf(request: Request, _exc: web.CsrfFailed) -> Response:
        return _error_page(request, 403, gettext(N_("This form has expired. Please open the page again and retry.")))

    @app.exception_handler(OutOfDistrict)
    async def _out_of_district(request: Request, exc: OutOfDistrict) -> Response:
        access = getattr(request.state, "access", None)
        if access is not None:
            async with database.transaction() as session:
                await access.log(
                    session,
                    action="denied_other_district",
                    resident_id=exc.resident_id,
                    detail=f"{exc.what} {exc.thing_id} {request.method} {request.url.path}",
                )
        return _error_page(request, 404, _message(exc))

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return _error_page(request, _status(exc), _message(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, 400, gettext(InvalidInput.msgid))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {
            404: N_("The page could not be found."),
            405: N_("This address does not take that kind of request."),
        }
        return _error_page(request, exc.status_code, gettext(messages.get(exc.status_code, AppError.msgid)))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("console error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error_page(request, 500, gettext(AppError.msgid))

    # Outermost, so every layer below sees the client address and scheme it establishes.
    app.add_middleware(TrustedProxies, networks=settings.trusted_proxies)
    return app
