"""상담함 — the inbox: every conversation with the desk, one thread, its actions, canned replies and settings.

Live updates are a short poll (decision 0014): /inbox/poll answers the figures and a stamp
without any names; when the stamp moves, the page fetches /inbox/rows (or the thread's
/inbox/{id}/messages), which are logged views like the page itself.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import Field

from care import complaints, inbox
from console import forms, web
from dolbom import clock
from dolbom.errors import AppError, ConflictError, InvalidInput, NotFound, RegistrationNumberRefused
from dolbom.i18n import N_, gettext
from storage.models import Operator

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.require_operator)])
NAV = [("/inbox", N_("Inbox"), ("admin", "operator", "viewer"))]

ACTIONS = ("reply", "note", "assign", "take", "snooze", "open", "pending", "resolve", "link")
DONE = {
    "reply": N_("The answer is on its way."),
    "note": N_("The note was saved."),
    "assign": N_("The conversation was assigned."),
    "take": N_("You took over the conversation."),
    "snooze": N_("The conversation comes back at the chosen time."),
    "open": N_("The conversation is open."),
    "pending": N_("The conversation is on hold."),
    "resolve": N_("The conversation is resolved. The person is asked how it went."),
    "link": N_("The conversation is linked to the order."),
    "settings": N_("The settings were saved."),
    "canned": N_("The canned reply was saved."),
}
SNOOZE_CHOICES = [
    ("1h", N_("In 1 hour")),
    ("3h", N_("In 3 hours")),
    ("tomorrow", N_("Tomorrow 9:00")),
    ("monday", N_("Next Monday 9:00")),
]
FILTERS = [
    ("open", N_("Open")),
    ("pending", N_("On hold")),
    ("snoozed", N_("Later")),
    ("resolved", N_("Resolved")),
    ("active", N_("All not resolved")),
]


class InboxAction(forms.In):
    """One action on a conversation (the fields the action needs)."""

    text: Annotated[str, Field(max_length=1000)] = ""
    version: forms.OptId = None
    operator_id: forms.OptId = None
    order_id: forms.OptId = None
    snooze: Annotated[str, Field(max_length=20)] = ""
    until: Annotated[str, Field(max_length=30)] = ""


class ListFilters(forms.In):
    status: Annotated[str, Field(max_length=20)] = "open"
    mine: forms.Flag = False
    unassigned: forms.Flag = False
    overdue: forms.Flag = False
    reason: Annotated[str, Field(max_length=40)] = ""


class SettingsIn(forms.In):
    first_answer_minutes: Annotated[int, Field(ge=1, le=10080)] = 30
    assign_limit: Annotated[int, Field(ge=1, le=500)] = 10
    office_start: str = "09:00"
    office_end: str = "18:00"
    auto_assign: forms.Flag = False


class CannedIn(forms.In):
    code: Annotated[str, Field(max_length=20)]
    text: Annotated[str, Field(max_length=1000)] = ""


def snooze_until(choice: str, typed: str = "") -> datetime:
    """Return the moment a snooze choice (or a typed local 'YYYY-MM-DDTHH:MM') means; InvalidInput otherwise."""
    now = clock.local_now()
    nine = time(9, 0, tzinfo=now.tzinfo)
    if choice == "1h":
        return clock.now() + timedelta(hours=1)
    if choice == "3h":
        return clock.now() + timedelta(hours=3)
    if choice == "tomorrow":
        return datetime.combine(now.date() + timedelta(days=1), nine)
    if choice == "monday":
        return datetime.combine(now.date() + timedelta(days=7 - now.weekday()), nine)
    if typed:
        try:
            return datetime.fromisoformat(typed).replace(tzinfo=clock.zone())
        except ValueError:
            pass
    raise InvalidInput(N_("Please choose when the conversation should come back."))


def _minute(value: str) -> int:
    try:
        hours, minutes = value.strip().split(":")
        return int(hours) * 60 + int(minutes)
    except ValueError as err:
        raise InvalidInput(N_("Please write the time as 09:00.")) from err


async def act(session: Any, *, access: Any, thread_id: int, action: str, body: InboxAction) -> None:
    """Run one inbox action (shared by the page and the JSON API)."""
    if action == "reply":
        await inbox.reply(session, access=access, thread_id=thread_id, text=body.text)
    elif action == "note":
        await inbox.add_note(session, access=access, thread_id=thread_id, text=body.text)
    elif action == "assign":
        await inbox.assign(
            session, access=access, thread_id=thread_id, operator_id=body.operator_id, expected_version=body.version
        )
    elif action == "take":
        await inbox.take_over(
            session, access=access, thread_id=thread_id, note=body.text, expected_version=body.version
        )
    elif action == "snooze":
        await inbox.set_status(
            session,
            access=access,
            thread_id=thread_id,
            status=inbox.SNOOZED,
            expected_version=body.version,
            until=snooze_until(body.snooze, body.until),
        )
    elif action in ("open", "pending", "resolve"):
        status = {"open": inbox.OPEN, "pending": inbox.PENDING, "resolve": inbox.RESOLVED}[action]
        await inbox.set_status(
            session, access=access, thread_id=thread_id, status=status, expected_version=body.version
        )
    elif action == "link":
        await inbox.link_order(session, access=access, thread_id=thread_id, order_id=body.order_id)
    else:
        raise NotFound()


def _filters(request: Request) -> ListFilters:
    return forms.parse(ListFilters, request.query_params)


async def _list_context(request: Request, *, with_stamp: bool = False) -> dict[str, Any]:
    f = _filters(request)
    async with web.database(request).transaction() as session:
        page = await inbox.list_threads(
            session,
            access=web.access_of(request),
            status=f.status or None,
            mine=f.mine,
            unassigned=f.unassigned,
            overdue_only=f.overdue,
            reason=f.reason or None,
        )
        # The live list starts from the stamp of what it shows, read with it: a message landing between
        # this page and the first poll must still make the list refresh (the rows alone need none).
        stamp = await inbox.list_stamp(session, access=web.access_of(request)) if with_stamp else 0
    return {"page": page, "f": f, "filters": FILTERS, "inbox": inbox, "stamp": stamp}


@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    return web.render(request, "inbox.html", **await _list_context(request, with_stamp=True))


@router.get("/inbox/rows")
async def inbox_rows(request: Request) -> Response:
    return web.render(request, "_inbox_rows.html", **await _list_context(request))


@router.get("/inbox/poll")
async def inbox_poll(request: Request) -> Response:
    """The figures for the menu badge, the tab title and the live list: no names, nothing logged."""
    async with web.database(request).transaction() as session:
        figures: dict[str, Any] = {**await inbox.counts(session, access=web.access_of(request))}
        # Open complaints (민원·사고), for their menu badge: a count only.
        figures["complaints_open"] = await complaints.count_open(session, access=web.access_of(request))
    figures["overdue_label"] = gettext(N_("Past the answer time"))
    thread = request.query_params.get("thread", "")
    if thread.isdigit() and int(thread) <= forms.INT4_MAX:
        async with web.database(request).transaction() as session:
            figures["thread_stamp"] = await inbox.thread_stamp(
                session, access=web.access_of(request), thread_id=int(thread)
            )
    return JSONResponse(figures, headers={"Cache-Control": "no-store"})


@router.get("/inbox/settings")
async def settings_page(request: Request, _op: Operator = Depends(web.require_admin)) -> Response:
    return await _settings(request)


async def _settings(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        setting = await inbox.get_settings_for(session, district_id=access.district_id)
        canned = await inbox.list_canned(session, district_id=access.district_id)
    done = request.query_params.get("done")
    return web.render(
        request,
        "inbox_settings.html",
        status_code=status_code,
        setting=setting,
        canned=canned,
        error=error,
        notice=gettext(DONE[done]) if done in DONE and error is None else None,
        has_district=access.district_id is not None,
    )


@router.post("/inbox/settings")
async def settings_save(
    request: Request, body: Annotated[SettingsIn, Form()], _op: Operator = Depends(web.require_admin)
) -> Response:
    access = web.access_of(request)
    if access.district_id is None:
        return await _settings(
            request, error=gettext(N_("Choose a district's admin account for this.")), status_code=400
        )
    try:
        async with web.database(request).transaction() as session:
            await inbox.update_settings(
                session,
                access=access,
                district_id=access.district_id,
                first_answer_minutes=body.first_answer_minutes,
                assign_limit=body.assign_limit,
                office_start_minute=_minute(body.office_start),
                office_end_minute=_minute(body.office_end),
                auto_assign=body.auto_assign,
            )
    except InvalidInput as err:
        return await _settings(request, error=gettext(err.msgid), status_code=400)
    return RedirectResponse("/inbox/settings?done=settings", status_code=303)


@router.post("/inbox/canned")
async def canned_save(
    request: Request, body: Annotated[CannedIn, Form()], _op: Operator = Depends(web.require_admin)
) -> Response:
    access = web.access_of(request)
    if access.district_id is None:
        return await _settings(
            request, error=gettext(N_("Choose a district's admin account for this.")), status_code=400
        )
    try:
        async with web.database(request).transaction() as session:
            await inbox.save_canned(
                session, access=access, district_id=access.district_id, code=body.code, text=body.text
            )
    except InvalidInput as err:
        return await _settings(request, error=gettext(err.msgid), status_code=400)
    return RedirectResponse("/inbox/settings?done=canned", status_code=303)


async def _thread(request: Request, thread_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    access = web.access_of(request)
    async with web.database(request).transaction() as session:
        view = await inbox.get(session, access=access, thread_id=thread_id)
        canned = await inbox.list_canned(session, district_id=view.thread.district_id)
        stamp = await inbox.thread_stamp(session, access=access, thread_id=thread_id)  # see _list_context
    done = request.query_params.get("done")
    return web.render(
        request,
        "inbox_thread.html",
        status_code=status_code,
        v=view,
        canned={c.code: c.text for c in canned},
        error=error,
        notice=gettext(DONE[done]) if done in DONE and error is None else None,
        can_write=access.can_write,
        snooze_choices=SNOOZE_CHOICES,
        inbox=inbox,
        stamp=stamp,
    )


@router.get("/inbox/{thread_id}")
async def thread_page(request: Request, thread_id: forms.PathId) -> Response:
    return await _thread(request, thread_id)


@router.get("/inbox/{thread_id}/messages")
async def thread_messages(request: Request, thread_id: forms.PathId) -> Response:
    async with web.database(request).transaction() as session:
        view = await inbox.get(session, access=web.access_of(request), thread_id=thread_id)
    return web.render(request, "_inbox_messages.html", v=view)


@router.post("/inbox/{thread_id}/{action}")
async def thread_action(
    request: Request, thread_id: forms.PathId, action: str, _op: Operator = Depends(web.require_writer)
) -> Response:
    if action not in ACTIONS:
        raise NotFound()
    try:
        body = forms.parse(InboxAction, await request.form())
        async with web.database(request).transaction() as session:
            await act(session, access=web.access_of(request), thread_id=thread_id, action=action, body=body)
    except ConflictError as err:
        return await _thread(request, thread_id, error=gettext(err.msgid), status_code=409)
    except NotFound:
        raise
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        status = 400 if isinstance(err, InvalidInput) and not isinstance(err, RegistrationNumberRefused) else 422
        if err.__class__.__name__ == "PermissionDenied":
            status = 403
        return await _thread(request, thread_id, error=gettext(err.msgid, **params), status_code=status)
    return RedirectResponse(f"/inbox/{thread_id}?done={action}", status_code=303)
