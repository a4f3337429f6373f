"""Sign-in, sign-out and changing one's own password."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from care import auth, directory, operators
from console import web
from dolbom.errors import InvalidInput, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
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
    settings = request.app.state.settings
    ip = web.client_ip(request)
    result = await auth.sign_in(
        web.database(request),
        username=username,
        password=password,
        ip=ip,
        secret=settings.secret_key,
        device=request.cookies.get(auth.device_cookie_name(username)),
    )
    if not result.ok:
        assert result.error is not None
        if result.error == RegistrationNumberRefused.msgid:
            return _login_page(request, error=gettext(result.error), status_code=422)
        return _login_page(request, error=gettext(result.error, **result.params), username=username, status_code=401)
    old = request.cookies.get(web.SESSION_COOKIE)
    if old:
        # A session id from before the sign-in never carries over (no session fixation).
        async with web.database(request).transaction() as session:
            await auth.sign_out(session, token=old, ip=ip)
    assert result.token is not None and result.operator is not None and result.device_cookie is not None
    target = web.PASSWORD_PAGE if result.operator.must_change_password else "/"
    if target == "/" and result.operator.role == "admin":
        async with web.database(request).transaction() as session:
            if not await directory.has_district(session):
                target = "/admin/setup"  # a fresh install: the walk-through comes first
    response = RedirectResponse(target, status_code=303)
    # A new session id at every sign-in; the old cookie (if any) is simply replaced.
    response.set_cookie(
        web.SESSION_COOKIE, result.token, httponly=True, samesite="lax", secure=web.is_https(request), path="/"
    )
    # This browser is now known to the account: strangers' failures never slow it (decision 0010).
    name, value = result.device_cookie
    response.set_cookie(
        name,
        value,
        max_age=auth.DEVICE_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=web.is_https(request),
        path="/login",
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


def _password_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    return web.render(
        request,
        "password.html",
        status_code=status_code,
        error=error,
        saved=request.query_params.get("done") == "saved",
    )


@router.get(web.PASSWORD_PAGE)
async def password_form(request: Request, _operator: Operator = Depends(web.require_operator)) -> Response:
    return _password_page(request)


@router.post(web.PASSWORD_PAGE)
async def password_change(
    request: Request,
    operator: Operator = Depends(web.require_operator),
    current: str = Form(""),
    new: str = Form(""),
    again: str = Form(""),
) -> Response:
    assert operator.id is not None
    try:
        if new != again:
            raise InvalidInput(N_("The two new passwords are not the same. Please type them again."))
        async with web.database(request).transaction() as session:
            await operators.change_password(session, operator_id=operator.id, current=current, new=new)
            # Whoever else held a session of this account (a forgotten PC, a thief) is out.
            await auth.end_sessions(
                session, operator_id=operator.id, keep_token=request.cookies.get(web.SESSION_COOKIE, "")
            )
            await web.access_of(request).log(session, action="password_changed")
    except InvalidInput as err:
        message = gettext(err.msgid, **err.params)
        return _password_page(request, error=message, status_code=400)
    return RedirectResponse(f"{web.PASSWORD_PAGE}?done=saved", status_code=303)
