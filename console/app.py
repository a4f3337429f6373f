"""The desk console: a FastAPI app of server-rendered Korean pages."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from care.residents import OutOfDistrict
from console import forms, web
from console.limits import RequestGuard
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
    "console.routes.entitlements",
    "console.routes.settlement",
    "console.routes.statistics",
    "console.routes.satisfaction",
    "console.routes.complaints",
    "console.routes.checks",
    "console.routes.monitoring",
    "console.routes.statements",
    "console.routes.providers",
    "console.routes.admin",
    "console.routes.workbook",
    "console.routes.directory",
    "console.routes.first_run",
    "console.routes.checkins",
    "console.routes.inbox",
    "console.routes.calls",
    "console.routes.api",
    "console.routes.inbox_api",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


HSTS = "max-age=31536000"
UNREADABLE = N_("The request could not be read. Please open the page again and retry.")
HTTP_MESSAGES = {
    400: UNREADABLE,
    404: N_("The page could not be found."),
    405: N_("This address does not take that kind of request."),
    413: N_("What was sent is too large. Please send less at a time."),
}


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
    return request.url.path.startswith(("/api/", "/chat/api/"))


def _error_page(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    if _wants_json(request):
        response: Response = JSONResponse({"error": message}, status_code=status)
    else:
        response = web.render(request, "error.html", status_code=status, message=message, status=status)
    response.headers.update(headers or {})
    return response


# Every refusal of a JSON route is {"error": "<Korean message>"} (the handlers below); the
# OpenAPI document says so for every operation instead of FastAPI's 422 "detail" list.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "what went wrong, in Korean, for a person"}},
    "required": ["error"],
    "title": "Error",
}
ERROR_RESPONSES = {
    "400": "the request does not fit (the message names the fields) or cannot be read",
    "401": "not signed in",
    "403": "no permission, or the CSRF header is missing",
    "404": "no such record in the caller's district (also for ids out of range)",
    "409": "changed by someone else since it was read",
    "413": "the body is too large",
    "422": "the desk's rules forbid it",
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for schemas in (spec["components"]["schemas"],):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    for item in spec.get("paths", {}).values():
        for op in item.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            for code, meaning in ERROR_RESPONSES.items():
                responses[code] = {
                    "description": meaning,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
    app.openapi_schema = spec
    return spec


class SecurityHeaders:
    """ASGI middleware: the security headers on every answer (a plain ASGI layer: no task per request)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("Content-Security-Policy", CSP)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("Referrer-Policy", "same-origin")
                if not static:
                    # Pages and API answers carry personal data: never keep them in a cache.
                    h["Cache-Control"] = "no-store"
                if https:
                    # Every answer, errors and redirects included: a browser that once reached us over
                    # HTTPS never again sends a session cookie in clear. Not includeSubDomains: the
                    # district's other hosts are not ours to commit (decision 0010).
                    h.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


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

    async def refuse(scope: Any, status: int) -> Response:
        return _error_page(Request(scope), status, gettext(HTTP_MESSAGES[status]))

    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes, refuse=refuse)

    app.add_middleware(SecurityHeaders)

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
        errors = list(exc.errors())
        if errors and all(e.get("loc", ("",))[0] == "path" for e in errors):
            # /orders/99999999999 or /orders/-1: there is no such thing, as for any unknown id.
            return _error_page(request, 404, gettext(NotFound.msgid))
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error_page(request, 400, gettext(UNREADABLE))
        try:
            forms.refuse_in_errors(errors)
        except RegistrationNumberRefused as err:
            return _error_page(request, 422, _message(err))
        return _error_page(request, 400, _message(forms.InvalidFields(forms.messages_of(errors))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = gettext(HTTP_MESSAGES.get(exc.status_code, AppError.msgid))
        return _error_page(request, exc.status_code, message, headers=exc.headers)  # 405 keeps its Allow

    # What reaches these four is input that a route let through unchecked; it is the caller's
    # mistake (4xx) all the same, logged without a traceback so the route can be given a bound.
    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        log.warning("value out of range for the database on %s %s", request.method, request.url.path)
        return _error_page(request, 400, gettext(InvalidInput.msgid))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # An id in a form that names nothing (a district or dong that does not exist).
        log.warning("reference to nothing or a duplicate on %s %s", request.method, request.url.path)
        return _error_page(request, 400, gettext(InvalidInput.msgid))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        log.warning("number too large on %s %s", request.method, request.url.path)
        return _error_page(request, 400, gettext(InvalidInput.msgid))

    @app.exception_handler(UnicodeDecodeError)
    async def _undecodable(request: Request, exc: UnicodeDecodeError) -> Response:
        return _error_page(request, 400, gettext(UNREADABLE))

    @app.exception_handler(json.JSONDecodeError)
    async def _not_json(request: Request, exc: json.JSONDecodeError) -> Response:
        return _error_page(request, 400, gettext(UNREADABLE))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # The last resort: a kind page or a JSON error, never a traceback (that stays in the log).
        log.exception("console error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error_page(request, 500, gettext(AppError.msgid))

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    # Outermost, so every layer below sees the client address and scheme it establishes.
    app.add_middleware(TrustedProxies, networks=settings.trusted_proxies)
    return app
