"""The order lifecycle: one table of allowed steps, nothing else is allowed.

접수(received) → 검토(screening) → 배정(assigned) → 수락(accepted) → 진행(in_progress) → 완료(done),
with 취소(cancelled) and 반려(rejected), reassignment (배정/수락 → 배정 to another provider),
and return (배정 → 검토) when a provider declines or lets the deadline pass.
What the desk handles itself (정보제공·상담, 건강지원: see care.orders.DESK_SERVICES) it closes
from 접수/검토 straight to 완료, done at the desk (desk_complete) or referred to a 보건소 (refer),
with no provider step; which services may do so is the orders' rule, not the table's.
"""

from __future__ import annotations

from enum import StrEnum

from dolbom.errors import InvalidTransition, ReasonRequired


class Status(StrEnum):
    RECEIVED = "received"
    SCREENING = "screening"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Action(StrEnum):
    SCREEN = "screen"
    ASSIGN = "assign"
    REASSIGN = "reassign"
    RETURN = "return"
    ACCEPT = "accept"
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"
    REJECT = "reject"
    DESK_COMPLETE = "desk_complete"
    REFER = "refer"


S = Status
TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.SCREEN: {S.RECEIVED: S.SCREENING},
    Action.ASSIGN: {S.SCREENING: S.ASSIGNED},
    Action.REASSIGN: {S.ASSIGNED: S.ASSIGNED, S.ACCEPTED: S.ASSIGNED},
    Action.RETURN: {S.ASSIGNED: S.SCREENING},
    Action.ACCEPT: {S.ASSIGNED: S.ACCEPTED},
    Action.START: {S.ACCEPTED: S.IN_PROGRESS},
    Action.COMPLETE: {S.IN_PROGRESS: S.DONE},
    Action.CANCEL: {
        S.RECEIVED: S.CANCELLED,
        S.SCREENING: S.CANCELLED,
        S.ASSIGNED: S.CANCELLED,
        S.ACCEPTED: S.CANCELLED,
        S.IN_PROGRESS: S.CANCELLED,
    },
    Action.REJECT: {S.RECEIVED: S.REJECTED, S.SCREENING: S.REJECTED},
    Action.DESK_COMPLETE: {S.RECEIVED: S.DONE, S.SCREENING: S.DONE},
    Action.REFER: {S.RECEIVED: S.DONE, S.SCREENING: S.DONE},
}

REASON_REQUIRED: frozenset[Action] = frozenset(
    {Action.REASSIGN, Action.RETURN, Action.CANCEL, Action.REJECT, Action.DESK_COMPLETE, Action.REFER}
)
OPEN: frozenset[Status] = frozenset({S.RECEIVED, S.SCREENING, S.ASSIGNED, S.ACCEPTED, S.IN_PROGRESS})
FINAL: frozenset[Status] = frozenset({S.DONE, S.CANCELLED, S.REJECTED})

# What the target of an impossible action would have been, for the error message.
_ACTION_TARGET: dict[Action, Status] = {a: next(iter(m.values())) for a, m in TRANSITIONS.items()}


def next_status(current: str, action: str, *, reason: str | None = None) -> Status:
    """Return the status an order moves to; raise InvalidTransition or ReasonRequired."""
    status, act = Status(current), Action(action)
    target = TRANSITIONS[act].get(status)
    if target is None:
        raise InvalidTransition(from_status=status.value, to_status=_ACTION_TARGET[act].value)
    if act in REASON_REQUIRED and not (reason and reason.strip()):
        raise ReasonRequired()
    return target


def allowed_actions(current: str) -> list[Action]:
    """Return the actions the lifecycle allows from a status, in table order."""
    status = Status(current)
    return [act for act, steps in TRANSITIONS.items() if status in steps]


def check_move(from_status: str, to_status: str) -> None:
    """Raise InvalidTransition unless some action moves from_status to to_status."""
    a, b = Status(from_status), Status(to_status)
    if not any(steps.get(a) == b for steps in TRANSITIONS.values()):
        raise InvalidTransition(from_status=a.value, to_status=b.value)
