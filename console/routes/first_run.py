"""First run: the one-time link `dolbom serve` prints creates the first admin (no sign-in, no operator yet)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from care import first_run
from console import directory_forms as df
from console import web
from dolbom.errors import AppError, NotFound
from dolbom.i18n import N_, gettext

router = APIRouter(include_in_schema=False)
MSG_AGAIN = N_("The two passwords are not the same. Please type them again.")


def _page(
    request: Request, *, token: str, username: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    return web.render(request, "first_admin.html", status_code=status_code, token=token, username=username, error=error)


@router.get(first_run.PATH)
async def first_admin_form(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    async with web.database(request).transaction() as session:
        await first_run.check(session, token=token)  # NotFound (a kind 404 page) when the link is dead
    return _page(request, token=token)


@router.post(first_run.PATH)
async def first_admin_create(request: Request, body: Annotated[df.FirstAdmin, Form()]) -> Response:
    if body.password != body.again:
        async with web.database(request).transaction() as session:
            await first_run.check(session, token=body.token)
        return _page(request, token=body.token, username=body.username, error=gettext(MSG_AGAIN), status_code=400)
    try:
        async with web.database(request).transaction() as session:
            await first_run.create_first_admin(
                session, token=body.token, username=body.username, password=body.password, ip=web.client_ip(request)
            )
    except NotFound:
        raise
    except AppError as err:
        text = gettext(err.msgid, **err.params)
        return _page(request, token=body.token, username=body.username, error=text, status_code=400)
    return RedirectResponse("/login", status_code=303)
