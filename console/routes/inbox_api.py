"""The inbox in the JSON API (/api/inbox): list with filters, read, reply, note, assign, take over, snooze, resolve.

Same session cookie, CSRF header on writes, district scope and access log as the rest of /api/
(console/routes/api.py); the actions are the console page's (console/routes/inbox.py `act`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from care import inbox
from console import forms, web
from console.routes.inbox import InboxAction, act
from storage.models import Operator

router = APIRouter(prefix="/api", tags=["inbox"], dependencies=[Depends(web.require_operator)])

ActionName = Literal["reply", "note", "assign", "take", "snooze", "open", "pending", "resolve", "link"]


class ThreadOut(BaseModel):
    id: int
    district_id: int | None
    resident_id: int | None
    resident_name: str | None
    order_id: int | None
    channel: str
    reason: str
    reason_label: str
    status: str
    assignee_id: int | None
    assignee: str
    version: int
    created_at: datetime
    waiting_since: datetime | None
    first_reply_at: datetime | None
    snoozed_until: datetime | None
    first_answer_due: datetime
    overdue: bool
    unread: bool
    last_message: str
    rating: int | None


class MessageOut(BaseModel):
    id: int
    at: datetime
    direction: str
    text: str
    operator: str


class InboxListOut(BaseModel):
    counts: dict[str, int]
    unread: int
    overdue: int
    threads: list[ThreadOut]


class ThreadDetailOut(BaseModel):
    thread: ThreadOut
    messages: list[MessageOut]
    can_reply: bool


class InboxQuery(forms.In):
    status: Literal["open", "pending", "snoozed", "resolved", "active"] = "open"
    mine: forms.Flag = False
    unassigned: forms.Flag = False
    overdue: forms.Flag = False
    reason: str = ""
    order_id: forms.OptId = None
    limit: forms.ApiLimit = 50


def _thread(row: inbox.Row) -> ThreadOut:
    t = row.thread
    assert t.id is not None
    return ThreadOut(
        id=t.id,
        district_id=t.district_id,
        resident_id=t.resident_id,
        resident_name=row.resident.name if row.resident else None,
        order_id=t.order_id,
        channel=t.channel,
        reason=t.reason,
        reason_label=inbox.reason_label(t.reason),
        status=t.status,
        assignee_id=t.assignee_id,
        assignee=row.assignee,
        version=t.version,
        created_at=t.created_at,
        waiting_since=t.waiting_since,
        first_reply_at=t.first_reply_at,
        snoozed_until=t.snoozed_until,
        first_answer_due=row.due,
        overdue=row.overdue,
        unread=row.unread,
        last_message=row.last_text,
        rating=t.rating,
    )


@router.get("/inbox")
async def list_inbox(request: Request, query: Annotated[InboxQuery, Query()]) -> InboxListOut:
    """Conversations (a status, or "active" for all not resolved), oldest waiting first, with the figures."""
    async with web.database(request).transaction() as session:
        page = await inbox.list_threads(
            session,
            access=web.access_of(request),
            status=query.status,
            mine=query.mine,
            unassigned=query.unassigned,
            overdue_only=query.overdue,
            reason=query.reason or None,
            order_id=query.order_id,
            limit=query.limit,
        )
    return InboxListOut(
        counts=page.counts, unread=page.unread, overdue=page.overdue, threads=[_thread(r) for r in page.rows]
    )


async def _detail(request: Request, thread_id: int) -> ThreadDetailOut:
    async with web.database(request).transaction() as session:
        view = await inbox.get(session, access=web.access_of(request), thread_id=thread_id)
        rows = await inbox.rows_for(session, threads=[view.thread])
    return ThreadDetailOut(
        thread=_thread(rows[0]),
        messages=[
            MessageOut(id=m.id or 0, at=m.at, direction=m.direction, text=m.text, operator=who)
            for m, who in view.messages
        ],
        can_reply=view.can_reply,
    )


@router.get("/inbox/{thread_id}")
async def get_thread(request: Request, thread_id: forms.PathId) -> ThreadDetailOut:
    """One conversation with its messages and internal notes (the view is logged; it counts as read)."""
    return await _detail(request, thread_id)


@router.post("/inbox/{thread_id}/{action}")
async def thread_action(
    request: Request,
    thread_id: forms.PathId,
    action: ActionName,
    body: InboxAction,
    _op: Operator = Depends(web.require_writer),
) -> ThreadDetailOut:
    """reply, note, assign (operator_id), take (text: why), snooze (snooze: 1h|3h|tomorrow|monday or until),
    open, pending, resolve (version: 409 when stale), link (order_id)."""
    async with web.database(request).transaction() as session:
        await act(session, access=web.access_of(request), thread_id=thread_id, action=action, body=body)
    return await _detail(request, thread_id)
