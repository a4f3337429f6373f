"""Provider staff (제공기관): 오늘 할 일, assignments waiting for an answer, 수락 / 거절, 진행 시작, each visit, 완료.

An accepted order's card has one-tap buttons for today (오늘 1식 전달 / 오늘 3시간 방문 / hours for
이동지원 and 주거편의) and 이용자 부재·무단결석 (a reason by buttons, then optional words); 완료 closes
the order with the units its visits delivered (an order without visits still asks for the units).

Before 수락 a provider sees the service, units, date, the resident's given name, the dong and the
desk's note; the full name, address and phone come after 수락. Only the organisation's own
assignments can be seen or changed (care.provider_tasks checks and logs every attempt).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from bot.core import STAY, Answer, Ctx, Flow, Step, goto, register_flow, reset
from bot.flows import kit
from bot.flows.roles import MSG_UNBOUND, binding_of, guarded
from bot.messages import Button
from care import labels, order_notices, provider_tasks, visits
from care.actors import Actor
from dolbom.errors import InvalidInput, PermissionDenied, RuleViolation
from dolbom.i18n import N_

ROLE: Final = "provider_staff"
MENU: Final = [
    ("today", N_("Today's tasks")),
    ("pending", N_("Waiting for your answer")),
    ("ask_desk", N_("Ask the desk")),
]
MSG_BUTTONS: Final = N_("Please choose one of the buttons below.")
TASK_FLOW: Final = "pv_task"


async def provider_actor(ctx: Ctx) -> tuple[int, Actor]:
    """Return the bound provider's id and the actor for history; raise PermissionDenied when unbound."""
    binding = await binding_of(ctx, "provider_staff")
    if binding is None or binding.provider_id is None:
        raise PermissionDenied(MSG_UNBOUND)
    provider = await provider_tasks.get_provider(ctx.session, provider_id=binding.provider_id)
    return binding.provider_id, provider_tasks.actor_for(provider, channel=ctx.channel, staff_name=binding.display_name)


async def open_task(ctx: Ctx, assignment_id: int, step: str = "task") -> None:
    """Show one assignment (or a question about it) as a new flow, whatever the person was doing."""
    reset(ctx)
    ctx.state["flow"] = TASK_FLOW
    ctx.state["a"] = {"aid": assignment_id}
    ctx.state["m"] = {}
    await goto(ctx, TASK_FLOW, step)


# ---------------------------------------------------------------- menu and lists


async def _ask_menu(ctx: Ctx) -> None:
    binding = await binding_of(ctx, "provider_staff")
    if binding is None or binding.provider_id is None:
        ctx.say(MSG_UNBOUND)
        return
    provider = await provider_tasks.get_provider(ctx.session, provider_id=binding.provider_id)
    ctx.say(
        N_("{provider}: what would you like to see?"),
        [[ctx.btn(label, value)] for value, label in MENU],
        provider=provider.name,
    )


async def _respond_menu(ctx: Ctx, answer: Answer) -> str | None:
    await provider_actor(ctx)
    value = answer.choice
    if value is None and answer.text:
        value = next((v for v, label in MENU if ctx.t(label) == answer.text.strip()), None)
    if value in ("today", "pending"):
        return f"pv_list/{value}"
    if value == "ask_desk":
        return "ask_desk/"
    raise InvalidInput(MSG_BUTTONS)


register_flow(
    Flow(name="pv", first="menu", steps=guarded(ROLE, {"menu": Step(ask=_ask_menu, respond=_respond_menu)}), nav=False)
)


# The one-tap button of each service for today's visit (hour services say the hours).
TAP_LABEL: Final = {
    "meals": N_("Today: 1 meal delivered"),
    "home_care": N_("Today: one 3-hour visit"),
    "short_stay": N_("Today: 1 day of stay"),
}
TAP_HOURS: Final = N_("Today: {n} hours")
TAP_ONCE: Final = N_("Today: given once")
NO_SHOW_BUTTON: Final = N_("Not there / no-show")


def _visit_buttons(ctx: Ctx, view: provider_tasks.AssignmentView) -> list[list[Button]]:
    aid, code = view.assignment.id, view.order.service_code
    if code in visits.HOUR_SERVICES:
        taps = [ctx.btn(TAP_HOURS, f"vis:{aid}:{n}", n=n) for n in visits.tap_units(code)]
    else:
        taps = [ctx.btn(TAP_LABEL.get(code, TAP_ONCE), f"vis:{aid}:1")]
    return [*kit.rows(taps, 2), [ctx.btn(NO_SHOW_BUTTON, f"nos:{aid}")]]


def _task_buttons(ctx: Ctx, view: provider_tasks.AssignmentView) -> list[list[Button]]:
    aid = view.assignment.id
    if view.assignment.status == "pending":
        return [[ctx.btn(N_("Accept"), f"acc:{aid}"), ctx.btn(N_("Decline"), f"dec:{aid}")]]
    if view.assignment.status == "accepted" and view.order.status == "accepted":
        return [*_visit_buttons(ctx, view), [ctx.btn(N_("Start"), f"start:{aid}")]]
    if view.assignment.status == "accepted" and view.order.status == "in_progress":
        return [*_visit_buttons(ctx, view), [ctx.btn(N_("Complete"), f"done:{aid}")]]
    return []


async def _progress_line(ctx: Ctx, view: provider_tasks.AssignmentView) -> str:
    """Return what the visits delivered so far against the plan, with the no-shows ('' before any visit)."""
    if view.assignment.status != "accepted" or view.order.status not in visits.VISITABLE:
        return ""
    assert view.assignment.id is not None
    rows = await provider_tasks.visits_of(
        ctx.session, provider_id=view.assignment.provider_id, assignment_id=view.assignment.id
    )
    if not rows:
        return ""
    code = view.order.service_code
    line = ctx.t(
        N_("Recorded so far: {delivered} of {planned}"),
        delivered=order_notices.units_text(code, visits.delivered(rows)),
        planned=order_notices.units_text(code, view.order.units),
    )
    missed = sum(v.kind == "no_show" for v in rows)
    if missed:
        line += ctx.t(N_(", not there {n} times"), n=missed)
    return "\n" + line


async def _card(ctx: Ctx, view: provider_tasks.AssignmentView) -> str:
    return f"{view.card}\n{_status_line(ctx, view)}{await _progress_line(ctx, view)}"


def _status_line(ctx: Ctx, view: provider_tasks.AssignmentView) -> str:
    return ctx.t(N_("Status: {status}"), status=labels.label(labels.STATUS, view.order.status, ctx.locale))


async def _ask_list(ctx: Ctx, which: str) -> None:
    provider_id, _actor = await provider_actor(ctx)
    if which == "today":
        views = await provider_tasks.list_today(ctx.session, provider_id=provider_id)
        empty, title = N_("Nothing to do for today and the next days."), N_("Today and the next days:")
    else:
        views = await provider_tasks.list_assignments(ctx.session, provider_id=provider_id, statuses=("pending",))
        empty, title = N_("No assignment is waiting for your answer."), N_("Waiting for your answer:")
    if not views:
        ctx.say(empty, [[ctx.btn(N_("Back to the menu"), "menu")]])
        return
    ctx.say(title)
    for view in views:
        ctx.say_text(await _card(ctx, view), _task_buttons(ctx, view))
    ctx.replies[-1].buttons.append([ctx.btn(N_("Back to the menu"), "menu")])


async def _respond_list(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "menu":
        return None
    return await _act(ctx, answer)


async def _ask_today(ctx: Ctx) -> None:
    await _ask_list(ctx, "today")


async def _ask_pending(ctx: Ctx) -> None:
    await _ask_list(ctx, "pending")


register_flow(
    Flow(
        name="pv_list",
        first="today",
        steps=guarded(
            ROLE,
            {
                "today": Step(ask=_ask_today, respond=_respond_list),
                "pending": Step(ask=_ask_pending, respond=_respond_list),
            },
        ),
        nav=False,
    )
)


# ---------------------------------------------------------------- one assignment


async def _act(ctx: Ctx, answer: Answer) -> str | None:
    """Carry out a button of a task card: acc / dec / start / vis / nos / done with the assignment id."""
    action, _, rest = (answer.choice or "").partition(":")
    raw_id, _, raw_units = rest.partition(":")
    if action not in ("acc", "dec", "start", "vis", "nos", "done") or not raw_id.isdigit():
        raise InvalidInput(MSG_BUTTONS)
    if (action == "vis") != raw_units.isdigit():
        raise InvalidInput(MSG_BUTTONS)
    aid = int(raw_id)
    provider_id, actor = await provider_actor(ctx)
    if action == "vis":
        recorded = await provider_tasks.record_visit(
            ctx.session, provider_id=provider_id, assignment_id=aid, kind="delivered", units=int(raw_units), actor=actor
        )
        order = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=aid)
        ctx.say(
            N_("Recorded: {day}, {amount}."),
            day=order_notices.date_text(recorded.visit.day),
            amount=order_notices.units_text(order.order.service_code, recorded.visit.units),
        )
        await open_task(ctx, aid)
        return STAY
    if action == "nos":
        await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=aid)
        await open_task(ctx, aid, "noshow_reason")
        return STAY
    if action == "acc":
        await provider_tasks.accept(ctx.session, provider_id=provider_id, assignment_id=aid, actor=actor)
        ctx.say(N_("Accepted. Here are the address and phone number."))
        await open_task(ctx, aid)
        return STAY
    if action == "dec":
        await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=aid)
        await open_task(ctx, aid, "decline_reason")
        return STAY
    if action == "start":
        await provider_tasks.start(ctx.session, provider_id=provider_id, assignment_id=aid, actor=actor)
        ctx.say(N_("Marked as in progress. When it is all done, please press Complete."))
        await open_task(ctx, aid)
        return STAY
    await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=aid)
    recorded_visits = await provider_tasks.visits_of(ctx.session, provider_id=provider_id, assignment_id=aid)
    await open_task(ctx, aid, "done_visits" if recorded_visits else "done_units")
    return STAY


def _aid(ctx: Ctx) -> int:
    return int(ctx.a["aid"])


def with_menu(steps: dict[str, Step]) -> dict[str, Step]:
    """Return the steps with a 메뉴로 button under each question (취소 would read as cancelling the order)."""

    def wrap(step: Step) -> Step:
        async def ask(ctx: Ctx) -> None:
            before = len(ctx.replies)
            await step.ask(ctx)
            if len(ctx.replies) > before:
                ctx.replies[-1].buttons = [*ctx.replies[-1].buttons, [ctx.btn(N_("Back to the menu"), "menu")]]

        async def respond(ctx: Ctx, answer: Answer) -> str | None:
            if answer.choice == "menu":
                return None
            return await step.respond(ctx, answer)

        return Step(ask=ask, respond=respond, editable=step.editable)

    return {name: wrap(step) for name, step in steps.items()}


async def _ask_task(ctx: Ctx) -> None:
    provider_id, _actor = await provider_actor(ctx)
    view = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    ctx.say_text(await _card(ctx, view), _task_buttons(ctx, view))


async def _respond_task(ctx: Ctx, answer: Answer) -> str | None:
    return await _act(ctx, answer)


async def _ask_decline_reason(ctx: Ctx) -> None:
    provider_id, _actor = await provider_actor(ctx)
    view = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    buttons = [ctx.btn(label, code) for code, label in provider_tasks.DECLINE_REASONS.items()]
    ctx.say(
        N_("Decline: {order}. Why can you not take it?"),
        kit.rows(buttons, 2),
        order=order_notices.order_line(view.order),
    )


async def _decline(ctx: Ctx, reason_code: str, text: str | None) -> str | None:
    provider_id, actor = await provider_actor(ctx)
    await provider_tasks.decline(
        ctx.session, provider_id=provider_id, assignment_id=_aid(ctx), reason_code=reason_code, text=text, actor=actor
    )
    ctx.say(N_("Thank you. The order went back to the desk, and the desk will find another provider."))
    return None


async def _respond_decline_reason(ctx: Ctx, answer: Answer) -> str | None:
    code = answer.choice
    if code is None and answer.text:
        code = next(
            (c for c, label in provider_tasks.DECLINE_REASONS.items() if ctx.t(label) == answer.text.strip()), None
        )
    if code not in provider_tasks.DECLINE_REASONS:
        raise InvalidInput(MSG_BUTTONS)
    if code == "other":
        return "decline_text"
    return await _decline(ctx, code, None)


async def _ask_decline_text(ctx: Ctx) -> None:
    ctx.say(provider_tasks.MSG_OTHER_TEXT)


async def _respond_decline_text(ctx: Ctx, answer: Answer) -> str | None:
    if not answer.text:
        raise InvalidInput(provider_tasks.MSG_OTHER_TEXT)
    return await _decline(ctx, "other", answer.text)


async def _ask_done_units(ctx: Ctx) -> None:
    provider_id, _actor = await provider_actor(ctx)
    view = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    planned, code = view.order.units, view.order.service_code
    options = [n for n in (planned, planned - 1, planned - 2) if n >= 1]
    buttons = [ctx.raw_btn(order_notices.units_text(code, n), str(n)) for n in options]
    ctx.say(
        N_("How much was actually delivered? The plan was {planned}. Choose or type a number."),
        kit.rows(buttons, 3),
        planned=order_notices.units_text(code, planned),
    )


async def _respond_done_units(ctx: Ctx, answer: Answer) -> str | None:
    raw = answer.choice or answer.text or ""
    digits = re.findall(r"\d+", unicodedata.normalize("NFKC", raw))
    if len(digits) != 1 or int(digits[0]) < 1:
        raise InvalidInput(N_("Please type a number, like 18."))
    # More than planned goes on to the note too: the desk approves it with the provider's words.
    ctx.a["units"] = int(digits[0])
    return "done_note"


async def _ask_done_note(ctx: Ctx) -> None:
    ctx.say(
        N_("Please leave a short note for the desk. For example: 2 meals missed, in hospital."),
        [[ctx.btn(N_("No note"), "none")]],
    )


async def _respond_done_note(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice is not None and answer.choice != "none":
        raise InvalidInput(MSG_BUTTONS)
    note = None if answer.choice == "none" else (answer.text or "").strip() or None
    if note is not None and len(note) > 500:
        raise InvalidInput(N_("That answer is too long. Please write it shorter."))
    provider_id, actor = await provider_actor(ctx)
    try:
        if ctx.a.get("from_visits"):
            order = await provider_tasks.complete_from_visits(
                ctx.session, provider_id=provider_id, assignment_id=_aid(ctx), note=note, actor=actor
            )
        else:
            order = await provider_tasks.complete(
                ctx.session,
                provider_id=provider_id,
                assignment_id=_aid(ctx),
                delivered_units=int(ctx.a["units"]),
                note=note,
                actor=actor,
            )
    except RuleViolation as err:
        if err.msgid != provider_tasks.MSG_NEEDS_APPROVAL:
            raise
        ctx.say(err.msgid)
        return None
    ctx.say(
        N_("Recorded as complete: {service} {units}. Thank you for your work."),
        service=labels.label(labels.SERVICE, order.service_code, ctx.locale),
        units=order_notices.units_text(order.service_code, order.delivered_units or 0),
    )
    return None


async def _ask_done_visits(ctx: Ctx) -> None:
    provider_id, _actor = await provider_actor(ctx)
    view = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    rows = await provider_tasks.visits_of(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    code = view.order.service_code
    ctx.say(
        N_(
            "Complete with the recorded visits: {delivered} delivered (plan {planned}), not there {missed} times. "
            "Is that right?"
        ),
        [[ctx.btn(N_("Complete with these"), "ok")]],
        delivered=order_notices.units_text(code, visits.delivered(rows)),
        planned=order_notices.units_text(code, view.order.units),
        missed=sum(v.kind == "no_show" for v in rows),
    )


async def _respond_done_visits(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice != "ok":
        raise InvalidInput(MSG_BUTTONS)
    ctx.a["from_visits"] = True
    return "done_note"


async def _ask_noshow_reason(ctx: Ctx) -> None:
    provider_id, _actor = await provider_actor(ctx)
    view = await provider_tasks.get(ctx.session, provider_id=provider_id, assignment_id=_aid(ctx))
    buttons = [ctx.btn(label, code) for code, label in visits.NO_SHOW_REASONS.items()]
    ctx.say(N_("{order}: what happened today?"), kit.rows(buttons, 2), order=order_notices.order_line(view.order))


async def _respond_noshow_reason(ctx: Ctx, answer: Answer) -> str | None:
    code = answer.choice
    if code is None and answer.text:
        code = next((c for c, label in visits.NO_SHOW_REASONS.items() if ctx.t(label) == answer.text.strip()), None)
    if code not in visits.NO_SHOW_REASONS:
        raise InvalidInput(MSG_BUTTONS)
    ctx.a["reason"] = code
    return "noshow_text"


async def _ask_noshow_text(ctx: Ctx) -> None:
    if ctx.a.get("reason") == "other":
        ctx.say(provider_tasks.MSG_OTHER_TEXT)
        return
    ctx.say(N_("Anything to add for the desk? Write it, or press No note."), [[ctx.btn(N_("No note"), "none")]])


async def _respond_noshow_text(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice is not None and answer.choice != "none":
        raise InvalidInput(MSG_BUTTONS)
    text = None if answer.choice == "none" else (answer.text or "").strip() or None
    provider_id, actor = await provider_actor(ctx)
    recorded = await provider_tasks.record_visit(
        ctx.session,
        provider_id=provider_id,
        assignment_id=_aid(ctx),
        kind="no_show",
        reason_code=str(ctx.a.get("reason")),
        text=text,
        actor=actor,
    )
    ctx.say(
        N_("Recorded: {day}, {reason}. It is not billed."),
        day=order_notices.date_text(recorded.visit.day),
        reason=recorded.visit.reason,
    )
    if recorded.notice is not None:
        ctx.say(
            N_("That is {n} times in a row. The desk has been told and will call the person."),
            n=recorded.no_show_streak,
        )
    await open_task(ctx, _aid(ctx))
    return STAY


register_flow(
    Flow(
        name=TASK_FLOW,
        first="task",
        nav=False,
        steps=guarded(
            ROLE,
            with_menu(
                {
                    "task": Step(ask=_ask_task, respond=_respond_task),
                    "decline_reason": Step(ask=_ask_decline_reason, respond=_respond_decline_reason),
                    "decline_text": Step(ask=_ask_decline_text, respond=_respond_decline_text),
                    "done_units": Step(ask=_ask_done_units, respond=_respond_done_units),
                    "done_note": Step(ask=_ask_done_note, respond=_respond_done_note),
                    "done_visits": Step(ask=_ask_done_visits, respond=_respond_done_visits),
                    "noshow_reason": Step(ask=_ask_noshow_reason, respond=_respond_noshow_reason),
                    "noshow_text": Step(ask=_ask_noshow_text, respond=_respond_noshow_text),
                }
            ),
        ),
    )
)
