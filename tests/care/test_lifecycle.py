"""The lifecycle table: every allowed step works, every other step is refused naming both states."""

from __future__ import annotations

import itertools

import pytest

from care import lifecycle
from care.lifecycle import Action, Status
from dolbom.errors import InvalidTransition, ReasonRequired

S, A = Status, Action

ALLOWED = {
    (A.SCREEN, S.RECEIVED): S.SCREENING,
    (A.ASSIGN, S.SCREENING): S.ASSIGNED,
    (A.REASSIGN, S.ASSIGNED): S.ASSIGNED,
    (A.REASSIGN, S.ACCEPTED): S.ASSIGNED,
    (A.RETURN, S.ASSIGNED): S.SCREENING,
    (A.ACCEPT, S.ASSIGNED): S.ACCEPTED,
    (A.START, S.ACCEPTED): S.IN_PROGRESS,
    (A.COMPLETE, S.IN_PROGRESS): S.DONE,
    (A.CANCEL, S.RECEIVED): S.CANCELLED,
    (A.CANCEL, S.SCREENING): S.CANCELLED,
    (A.CANCEL, S.ASSIGNED): S.CANCELLED,
    (A.CANCEL, S.ACCEPTED): S.CANCELLED,
    (A.CANCEL, S.IN_PROGRESS): S.CANCELLED,
    (A.REJECT, S.RECEIVED): S.REJECTED,
    (A.REJECT, S.SCREENING): S.REJECTED,
    (A.DESK_COMPLETE, S.RECEIVED): S.DONE,
    (A.DESK_COMPLETE, S.SCREENING): S.DONE,
    (A.REFER, S.RECEIVED): S.DONE,
    (A.REFER, S.SCREENING): S.DONE,
}
FORBIDDEN = [pair for pair in itertools.product(A, S) if pair not in ALLOWED]


@pytest.mark.parametrize(("step", "expected"), list(ALLOWED.items()), ids=lambda v: str(v))
def test_allowed_step_moves_to_its_status(step: tuple[Action, Status], expected: Status) -> None:
    action, current = step
    assert lifecycle.next_status(current, action, reason="사유") == expected


@pytest.mark.parametrize(("action", "current"), FORBIDDEN, ids=lambda v: str(v))
def test_forbidden_step_names_both_states(action: Action, current: Status) -> None:
    with pytest.raises(InvalidTransition) as raised:
        lifecycle.next_status(current, action, reason="사유")
    assert raised.value.from_status == current.value
    assert raised.value.to_status in {s.value for s in Status}
    assert current.value in str(raised.value)


def test_every_status_and_action_is_covered() -> None:
    assert len(ALLOWED) + len(FORBIDDEN) == len(Action) * len(Status)
    assert dict(((a, s), t) for a, m in lifecycle.TRANSITIONS.items() for s, t in m.items()) == ALLOWED


@pytest.mark.parametrize("action", [A.REASSIGN, A.RETURN, A.CANCEL, A.REJECT, A.DESK_COMPLETE, A.REFER])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_steps_that_need_a_reason_refuse_without_one(action: Action, reason: str | None) -> None:
    current = next(iter(lifecycle.TRANSITIONS[action]))
    with pytest.raises(ReasonRequired):
        lifecycle.next_status(current, action, reason=reason)


def test_final_states_allow_nothing() -> None:
    for status in lifecycle.FINAL:
        assert lifecycle.allowed_actions(status) == []


def test_check_move_by_states() -> None:
    lifecycle.check_move("received", "screening")
    with pytest.raises(InvalidTransition):
        lifecycle.check_move("done", "assigned")
    with pytest.raises(InvalidTransition):
        lifecycle.check_move("received", "in_progress")
    # Only through the desk's own close (정보제공·상담, 건강지원; the service rule is care.orders').
    lifecycle.check_move("received", "done")
