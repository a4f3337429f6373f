"""What every console route shares: templates, the signed-in operator, CSRF, roles."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from care import auth, labels, parsing
from care.actors import Actor
from dolbom import clock
from dolbom.errors import PermissionDenied
from dolbom.i18n import N_, gettext
from storage.db import Database
from storage.models import Operator

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "dolbom_session"
LOGIN_COOKIE = "dolbom_login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITERS = ("admin", "operator")


class SignInRequired(Exception):
    """No live session: send the browser to the sign-in page (401 for the API)."""


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token (403)."""


class PasswordChangeRequired(Exception):
    """An admin asked this operator to choose a new password: only that page is open (303/403)."""


PASSWORD_PAGE = "/account/password"
# What an operator who must change their password may still reach.
PASSWORD_CHANGE_PATHS = frozenset({PASSWORD_PAGE, "/logout"})


def fmt_dt(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M")


def fmt_date(value: date | None) -> str:
    return parsing.format_date(value) if value else ""


def fmt_phone(value: str | None) -> str:
    if not value:
        return ""
    try:
        return parsing.format_phone(value)
    except Exception:  # a malformed stored number is still shown as stored
        return value


def _age_text(value: datetime) -> str:
    minutes = int((clock.now() - value).total_seconds() // 60)
    if minutes < 60:
        return gettext(N_("{n} min ago"), n=max(minutes, 0))
    if minutes < 60 * 48:
        return gettext(N_("{n} h ago"), n=minutes // 60)
    return gettext(N_("{n} days ago"), n=minutes // (60 * 24))


ASSIGNMENT = {
    "pending": N_("Waiting for an answer"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "expired": N_("No answer in time"),
    "withdrawn": N_("Withdrawn"),
    "done": N_("Done"),
}


def _assignment_label(code: str) -> str:
    return gettext(ASSIGNMENT[code]) if code in ASSIGNMENT else code


def _label(table: str, code: str | None) -> str:
    return labels.label(getattr(labels, table.upper()), code)


class Words(dict[str | None, str]):
    """A labels table translated once for a page: `words[code]` is `labels.label(table, code)`."""

    def __init__(self, table: dict[str, str]) -> None:
        super().__init__({code: labels.label(table, code) for code in table})
        self.table = table

    def __missing__(self, code: str | None) -> str:
        return labels.label(self.table, code)


def _words(table: str) -> Words:
    # A list page shows a label per row: one dict read each, not a call through the template's context.
    return Words(getattr(labels, table.upper()))


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates are compiled once per process: no stat() of each template and include on every page.
    auto_reload=False,
)
env.globals.update(
    _=gettext,
    label=_label,
    quantity=labels.quantity,
    assignment_label=_assignment_label,
    labels=labels,
    fmt_dt=fmt_dt,
    fmt_date=fmt_date,
    fmt_phone=fmt_phone,
    age_text=_age_text,
    words=_words,
)
# The same helpers as filters, for the rows of list pages: a filter is called directly, a global
# through the template context's call (per row and cell, that is a page's largest cost).
env.filters.update(fmt_dt=fmt_dt, fmt_date=fmt_date, age_text=_age_text)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Return a page rendered from a template, with the operator, CSRF token and menu filled in."""
    operator: Operator | None = getattr(request.state, "operator", None)
    nav = [
        (path, gettext(msgid))
        for path, msgid, roles in getattr(request.app.state, "nav", [])
        if operator is not None and operator.role in roles
    ]
    html = env.get_template(name).render(
        request=request,
        operator=operator,
        csrf_token=getattr(request.state, "csrf_token", ""),
        nav=nav,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def database(request: Request) -> Database:
    """Return the app's database."""
    return request.app.state.database  # type: ignore[no-any-return]


def client_ip(request: Request) -> str | None:
    """Return the caller's address (a trusted proxy's forwarded one, see console/proxies.py)."""
    return request.client.host if request.client else None


def is_https(request: Request) -> bool:
    """Return True when the browser talks HTTPS to us: directly, or as a trusted proxy says."""
    # console/proxies.py has already set the scheme from a trusted proxy's X-Forwarded-Proto;
    # the header itself, from anyone else, means nothing.
    return request.url.scheme == "https"


async def _csrf_sent(request: Request) -> str:
    sent = request.headers.get("x-csrf-token")
    if sent:
        return sent
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it: the route reads the same form
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def require_operator(request: Request) -> Operator:
    """Return the signed-in operator; check CSRF on state-changing requests; else SignInRequired/CsrfFailed."""
    token = request.cookies.get(SESSION_COOKIE, "")
    settings = request.app.state.settings
    # The queue's background poll does not count as activity: idle means nobody touched the page.
    touch = request.headers.get("x-dolbom-poll") != "1"
    async with database(request).autocommit() as session:
        found = await auth.get_session(session, token=token, idle_minutes=settings.session_idle_minutes, touch=touch)
    if found is None:
        raise SignInRequired()
    op_session, operator = found
    if request.method not in SAFE_METHODS:
        sent = await _csrf_sent(request)
        if not sent or not secrets.compare_digest(sent, op_session.csrf_token):
            raise CsrfFailed()
    request.state.operator = operator
    request.state.csrf_token = op_session.csrf_token
    if operator.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired()
    request.state.access = auth.Access(
        operator_id=operator.id,
        username=operator.username,
        ip=client_ip(request),
        district_id=operator.district_id,
        role=operator.role,
    )
    return operator


async def require_writer(operator: Operator = Depends(require_operator)) -> Operator:
    """Return the operator when they may change things (admin, operator); viewers get 403."""
    if operator.role not in WRITERS:
        raise PermissionDenied()
    return operator


async def require_admin(operator: Operator = Depends(require_operator)) -> Operator:
    """Return the operator when they are an admin; 403 otherwise."""
    if operator.role != "admin":
        raise PermissionDenied()
    return operator


def access_of(request: Request) -> auth.Access:
    """Return who is looking (set by require_operator)."""
    return request.state.access  # type: ignore[no-any-return]


def actor_of(operator: Operator, channel: str = "console") -> Actor:
    """Return the history actor for an operator."""
    return Actor(kind="operator", id=operator.id, name=operator.display_name or operator.username, channel=channel)
