"""Sign-in and sign-out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import auth
from console import web
from dolbom.errors import RegistrationNumberRefused
from dolbom.i18n import gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False)


def _login_page(request: Request, *, error: str | None = None, username: str = "", status_code: int = 200) -> Response:
    token = auth.new_token()
    response = web.render(
        request, "login.html", status_code=status_code, login_token=token, error=error, username=username
    )
    response.set_cookie(
        web.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=web.is_https(request), path="/login"
    )
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    login_token: str = Form(""),
) -> Response:
    # Before a session exists, CSRF is a double-submit: the form's token must match its cookie.
    cookie = request.cookies.get(web.LOGIN_COOKIE, "")
    if not cookie or not login_token or not secrets.compare_digest(cookie, login_token):
        raise web.CsrfFailed()
    old = request.cookies.get(web.SESSION_COOKIE)
    async with web.database(request).transaction() as session:
        result = await auth.sign_in(session, username=username, password=password, ip=web.client_ip(request))
        if result.ok and old:
            # A session id from before the sign-in never carries over (no session fixation).
            await auth.sign_out(session, token=old, ip=web.client_ip(request))
    if not result.ok:
        assert result.error is not None
        if result.error == RegistrationNumberRefused.msgid:
            return _login_page(request, error=gettext(result.error), status_code=422)
        return _login_page(request, error=gettext(result.error, **result.params), username=username, status_code=401)
    assert result.token is not None
    response = RedirectResponse("/", status_code=303)
    # A new session id at every sign-in; the old cookie (if any) is simply replaced.
    response.set_cookie(
        web.SESSION_COOKIE, result.token, httponly=True, samesite="lax", secure=web.is_https(request), path="/"
    )
    response.delete_cookie(web.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, _operator: Operator = Depends(web.require_operator)) -> Response:
    async with web.database(request).transaction() as session:
        await auth.sign_out(session, token=request.cookies.get(web.SESSION_COOKIE, ""), ip=web.client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(web.SESSION_COOKIE, path="/")
    return response
