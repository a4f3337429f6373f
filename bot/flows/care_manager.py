"""The dong care manager (동 돌봄매니저): 의뢰하기 and 내 의뢰 현황, from a phone between visits.

의뢰하기: name → last 4 digits of the phone → the resident found in the manager's own dong (or a
new one: phone, address, birth year) → services one by one (how much, from when) → 긴급/보통 →
the situation in a few words → the resident's consent → summary → 의뢰하기. One order per service.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any, Final

from bot.core import Answer, Ctx, Flow, Step, register_flow
from bot.flows import kit
from bot.flows.roles import MSG_UNBOUND, binding_of, guarded
from care import entitlements, labels, order_notices, parsing, referrals
from care.catalog import BY_CODE, DEFAULTS
from care.referrals import PlanItem
from dolbom import clock
from dolbom.errors import InvalidInput, PermissionDenied
from dolbom.i18n import N_
from storage.models import Resident

ROLE: Final = "care_manager"
MENU: Final = [("refer", N_("Make a referral")), ("mine", N_("My referrals")), ("ask_desk", N_("Ask the desk"))]
# Quick answers for "how much?", in the catalog's units; anything else can be typed.
PRESETS: Final[dict[str, tuple[int, ...]]] = {
    "meals": (10, 20, 30),
    "home_care": (1, 2, 4),
    "short_stay": (3, 7, 14),
    "escort": (1, 2, 3),
    "housing": (1, 2, 4),
    "checkin": (1,),
    "health": (1,),
    "info": (1,),
}
# Services delivered over several days ("from 12월 1일"); the others happen on the day.
ONGOING: Final = frozenset({"meals", "home_care", "short_stay", "checkin"})
URGENCY: Final = [("urgent", N_("Urgent")), ("normal", N_("Normal"))]
MSG_BUTTONS: Final = N_("Please choose one of the buttons below.")


async def _manager_id(ctx: Ctx) -> int | None:
    binding = await binding_of(ctx, "care_manager")
    return binding.care_manager_id if binding is not None else None


async def _need_manager(ctx: Ctx) -> int:
    manager_id = await _manager_id(ctx)
    if manager_id is None:
        raise PermissionDenied(MSG_UNBOUND)
    return manager_id


# ---------------------------------------------------------------- menu


async def _ask_menu(ctx: Ctx) -> None:
    manager_id = await _manager_id(ctx)
    if manager_id is None:
        ctx.say(MSG_UNBOUND)
        return
    manager = await referrals.get_care_manager(ctx.session, care_manager_id=manager_id)
    dong = await referrals.dong_name(ctx.session, care_manager_id=manager_id)
    ctx.say(
        N_("{name}, care manager of {dong}. What would you like to do?"),
        [[ctx.btn(label, value)] for value, label in MENU],
        name=manager.name,
        dong=dong,
    )


async def _respond_menu(ctx: Ctx, answer: Answer) -> str | None:
    await _need_manager(ctx)
    value = answer.choice
    if value is None and answer.text:
        value = next((v for v, label in MENU if ctx.t(label) == answer.text.strip()), None)
    if value == "refer":
        return "cm_refer/"
    if value == "mine":
        return "cm_mine/"
    if value == "ask_desk":
        return "ask_desk/"
    raise InvalidInput(MSG_BUTTONS)


register_flow(
    Flow(name="cm", first="menu", steps=guarded(ROLE, {"menu": Step(ask=_ask_menu, respond=_respond_menu)}), nav=False)
)


# ---------------------------------------------------------------- 의뢰하기: the resident


def _name(ctx: Ctx, text: str) -> str:
    name = "".join(text.split())
    if not name or len(name) > 30 or any(ch.isdigit() for ch in name):
        raise InvalidInput(referrals.MSG_NAME)
    return name


async def _ask_last4(ctx: Ctx) -> None:
    ctx.say(N_("What are the last 4 digits of {name}'s phone number? For example: 5678"), name=ctx.a["name"])


async def _respond_last4(ctx: Ctx, answer: Answer) -> str | None:
    manager_id = await _need_manager(ctx)
    try:
        found = await referrals.find_resident(
            ctx.session, care_manager_id=manager_id, name=ctx.a["name"], phone_last4=answer.text or ""
        )
    except PermissionDenied as err:
        # Refused and written to the access log; the transaction commits with the log row.
        ctx.say(err.msgid)
        return None
    ctx.a["last4"] = re.sub(r"\D", "", answer.text or "")[-4:]
    if found:
        ctx.a["matches"] = [r.id for r in found]
        return "pick"
    ctx.say(N_("{name} is not registered yet. Let us register them now."), name=ctx.a["name"])
    return "new_phone"


def _resident_label(ctx: Ctx, resident: Resident) -> str:
    parts = [resident.name]
    if resident.birth_year:
        parts.append(ctx.t(N_("born {year}"), year=resident.birth_year))
    if resident.address:
        parts.append(resident.address[:20])
    return " · ".join(parts)


async def _ask_pick(ctx: Ctx) -> None:
    manager_id = await _need_manager(ctx)
    buttons = []
    for resident_id in ctx.a.get("matches", []):
        resident = await referrals.get_resident(ctx.session, care_manager_id=manager_id, resident_id=resident_id)
        buttons.append([ctx.raw_btn(_resident_label(ctx, resident), f"r{resident.id}")])
    buttons.append([ctx.btn(N_("Someone else: register a new person"), "new")])
    ctx.say(N_("Is this the person?"), buttons)


async def _respond_pick(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "new":
        return "new_phone"
    if answer.choice and answer.choice.startswith("r") and answer.choice[1:].isdigit():
        resident_id = int(answer.choice[1:])
        if resident_id in ctx.a.get("matches", []):
            ctx.a["resident_id"] = resident_id
            return "service"
    raise InvalidInput(MSG_BUTTONS)


def _phone(ctx: Ctx, text: str) -> str:
    return parsing.parse_phone(text)


def _address(ctx: Ctx, text: str) -> str:
    parsing.refuse_registration_number(text)
    return " ".join(text.split())


def _birth_year(ctx: Ctx, text: str) -> int:
    return parsing.parse_birth_year(text, today=clock.today())


# ---------------------------------------------------------------- 의뢰하기: the plan


def _plan(ctx: Ctx) -> list[dict[str, Any]]:
    return ctx.a.setdefault("plan", [])


def _units_text(code: str, units: int) -> str:
    return order_notices.units_text(code, units)


def _plan_items(ctx: Ctx) -> list[PlanItem]:
    return [
        PlanItem(
            service_code=item["service"],
            units=int(item["units"]),
            requested_date=date.fromisoformat(item["date"]) if item.get("date") else None,
        )
        for item in _plan(ctx)
    ]


def _plan_lines(ctx: Ctx, costs: list[str] | None = None) -> list[str]:
    lines = []
    for n, item in enumerate(_plan(ctx)):
        service = labels.label(labels.SERVICE, item["service"], ctx.locale)
        line = f"• {service} {_units_text(item['service'], item['units'])}"
        if item.get("date"):
            day = parsing.format_date(date.fromisoformat(item["date"]))
            line += " · " + (ctx.t(N_("from {date}"), date=day) if item["service"] in ONGOING else day)
        lines.append(line)
        if costs:
            lines.append(f"  {costs[n]}")
    return lines


async def _ask_service(ctx: Ctx) -> None:
    taken = {item["service"] for item in _plan(ctx)}
    buttons = [
        ctx.raw_btn(labels.label(labels.SERVICE, d.code.value, ctx.locale), d.code.value)
        for d in DEFAULTS
        if d.code.value not in taken
    ]
    question = N_("Which service is needed?") if not taken else N_("Which other service is needed?")
    ctx.say(question, kit.rows(buttons, 2))


async def _respond_service(ctx: Ctx, answer: Answer) -> str | None:
    taken = {item["service"] for item in _plan(ctx)}
    value = answer.choice
    if value is None and answer.text:
        typed = answer.text.strip()
        value = next((code for code in BY_CODE if labels.label(labels.SERVICE, code, ctx.locale) == typed), None)
    if value not in BY_CODE or value in taken:
        raise InvalidInput(MSG_BUTTONS)
    ctx.a["service"] = value
    return "units"


async def _ask_units(ctx: Ctx) -> None:
    code = ctx.a["service"]
    default = BY_CODE[code]
    buttons = [ctx.raw_btn(_units_text(code, n), str(n)) for n in PRESETS.get(code, (1,))]
    text = ctx.t(
        N_("{service}: how much is needed? One unit is {unit}. Choose or type a number."),
        service=labels.label(labels.SERVICE, code, ctx.locale),
        unit=default.unit_label,
    )
    if default.cap_units is not None:
        text += "\n" + ctx.t(N_("Limit per person: {cap}"), cap=default.cap_label)
    ctx.say_text(text, kit.rows(buttons, 3))


async def _respond_units(ctx: Ctx, answer: Answer) -> str | None:
    raw = answer.choice or answer.text or ""
    digits = re.findall(r"\d+", unicodedata.normalize("NFKC", raw))
    if len(digits) != 1 or not 1 <= int(digits[0]) <= 999:
        raise InvalidInput(N_("Please type a number, like 20."))
    ctx.a["units"] = int(digits[0])
    return "when"


async def _ask_when(ctx: Ctx) -> None:
    today = clock.today()
    buttons = [
        [ctx.btn(N_("Tomorrow"), (today + timedelta(days=1)).isoformat())],
        [ctx.btn(N_("The day after tomorrow"), (today + timedelta(days=2)).isoformat())],
        [ctx.btn(N_("The desk will arrange the date"), "none")],
    ]
    question = (
        N_("From what day? You can also type it, like 12월 1일 or 다음주 화요일.")
        if ctx.a.get("service") in ONGOING
        else N_("On what day? You can also type it, like 12월 3일 or 다음주 화요일.")
    )
    ctx.say(question, buttons)


async def _respond_when(ctx: Ctx, answer: Answer) -> str | None:
    when: str | None
    if answer.choice == "none":
        when = None
    elif answer.choice:
        try:
            chosen = date.fromisoformat(answer.choice)
        except ValueError:
            raise InvalidInput(MSG_BUTTONS) from None
        when = chosen.isoformat()
    else:
        when = parsing.parse_date(answer.text or "", today=clock.today()).isoformat()
    _plan(ctx).append({"service": ctx.a.pop("service"), "units": ctx.a.pop("units"), "date": when})
    return "more"


async def _ask_more(ctx: Ctx) -> None:
    text = "\n".join([ctx.t(N_("The plan so far:")), *_plan_lines(ctx), "", ctx.t(N_("Add another service?"))])
    buttons = [[ctx.btn(N_("Add a service"), "add"), ctx.btn(N_("Next"), "next")]]
    if len(_plan(ctx)) >= len(BY_CODE):
        buttons = [[ctx.btn(N_("Next"), "next")]]
    ctx.say_text(text, buttons)


async def _respond_more(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "add" and len(_plan(ctx)) < len(BY_CODE):
        return "service"
    if answer.choice == "next":
        return "urgency"
    raise InvalidInput(MSG_BUTTONS)


def _notes(ctx: Ctx, text: str) -> str:
    parsing.refuse_registration_number(text)
    return text.strip()


def _consent_question(ctx: Ctx) -> str:
    return ctx.t(
        N_(
            "Did the resident (or their guardian) agree that the desk and the provider may use their name, "
            "phone, address and the situation you wrote, to arrange the services?"
        )
    )


async def _ask_consent(ctx: Ctx) -> None:
    ctx.say_text(
        _consent_question(ctx),
        [[ctx.btn(N_("Yes, they agreed"), "yes")], [ctx.btn(N_("Not yet"), "no")]],
    )


async def _respond_consent(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "yes":
        ctx.a["consent"] = True
        return "confirm"
    if answer.choice == "no":
        ctx.say(N_("Please ask for the consent first, then make the referral again. Nothing was saved."))
        return None
    raise InvalidInput(MSG_BUTTONS)


async def _resident_name(ctx: Ctx) -> str:
    if ctx.a.get("resident_id"):
        manager_id = await _need_manager(ctx)
        resident = await referrals.get_resident(
            ctx.session, care_manager_id=manager_id, resident_id=ctx.a["resident_id"]
        )
        return resident.name
    return str(ctx.a["name"])


async def _ask_confirm(ctx: Ctx) -> None:
    lines = [
        ctx.t(N_("Please check the referral.")),
        ctx.t(N_("Resident: {name}"), name=await _resident_name(ctx)),
    ]
    if not ctx.a.get("resident_id"):
        lines.append(
            ctx.t(
                N_("New registration: {phone}, {address}"),
                phone=parsing.format_phone(ctx.a["phone"]),
                address=ctx.a.get("address") or "-",
            )
        )
    manager_id = await _need_manager(ctx)
    estimates = await referrals.estimate(
        ctx.session, care_manager_id=manager_id, resident_id=ctx.a.get("resident_id"), plan=_plan_items(ctx)
    )
    lines += _plan_lines(ctx, [entitlements.estimate_text(e, ctx.locale) for e in estimates])
    lines.append(ctx.t(N_("Urgency: {urgency}"), urgency=ctx.t(dict(URGENCY)[ctx.a["urgency"]])))
    lines.append(ctx.t(N_("Situation: {notes}"), notes=ctx.a.get("notes") or "-"))
    lines.append(ctx.t(N_("Consent: confirmed by you")))
    ctx.say_text("\n".join(lines), [[ctx.btn(N_("Send the referral"), "submit")]])


async def _respond_confirm(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice != "submit":
        raise InvalidInput(MSG_BUTTONS)
    manager_id = await _need_manager(ctx)
    resident_id = ctx.a.get("resident_id")
    if not resident_id:
        resident = await referrals.register_resident(
            ctx.session,
            care_manager_id=manager_id,
            name=ctx.a["name"],
            phone=ctx.a["phone"],
            address=ctx.a.get("address"),
            birth_year=ctx.a.get("birth_year"),
        )
        resident_id = resident.id
    assert resident_id is not None
    plan = _plan_items(ctx)
    view = await referrals.create(
        ctx.session,
        care_manager_id=manager_id,
        resident_id=resident_id,
        plan=plan,
        urgency=ctx.a["urgency"],
        notes=ctx.a.get("notes"),
        consent_confirmed=bool(ctx.a.get("consent")),
        channel=ctx.channel,
    )
    lines = [ctx.t(N_("The referral is sent. Receipt numbers:"))]
    for order in view.orders:
        lines.append(f"• {order.receipt_no} {order_notices.order_line(order)}")
    lines.append(ctx.t(N_("We will tell you here when the desk gives each service to a provider.")))
    ctx.say_text("\n".join(lines))
    ctx.state["last_receipt"] = view.orders[0].receipt_no
    return None


register_flow(
    Flow(
        name="cm_refer",
        first="name",
        steps=guarded(
            ROLE,
            {
                "name": kit.text(N_("What is the name of the resident you refer?"), "name", "last4", parse=_name),
                "last4": Step(ask=_ask_last4, respond=_respond_last4),
                "pick": Step(ask=_ask_pick, respond=_respond_pick),
                "new_phone": kit.text(
                    N_("What is their full phone number? For example: 010-1234-5678"),
                    "phone",
                    "new_address",
                    parse=_phone,
                ),
                "new_address": kit.text(
                    N_("What is their address? For example: 성산로 12, 101호"), "address", "new_birth", parse=_address
                ),
                "new_birth": kit.text(
                    N_("In what year were they born? For example: 1942"),
                    "birth_year",
                    "service",
                    parse=_birth_year,
                    extra=[("unknown", N_("I do not know"))],
                ),
                "service": Step(ask=_ask_service, respond=_respond_service),
                "units": Step(ask=_ask_units, respond=_respond_units),
                "when": Step(ask=_ask_when, respond=_respond_when),
                "more": Step(ask=_ask_more, respond=_respond_more),
                "urgency": kit.choice(N_("How urgent is it?"), "urgency", URGENCY, "notes"),
                "notes": kit.text(
                    N_("Please write the situation in a few words (assessment notes)."),
                    "notes",
                    "consent",
                    parse=_notes,
                    max_length=1000,
                    extra=[("none", N_("Nothing to add"))],
                ),
                "consent": Step(ask=_ask_consent, respond=_respond_consent),
                "confirm": Step(ask=_ask_confirm, respond=_respond_confirm),
            },
        ),
    )
)


# ---------------------------------------------------------------- 내 의뢰 현황


async def _provider_name(ctx: Ctx, order_id: int) -> str | None:
    return await referrals.get_provider_name(ctx.session, order_id=order_id)


async def _ask_mine(ctx: Ctx) -> None:
    manager_id = await _manager_id(ctx)
    if manager_id is None:
        ctx.say(MSG_UNBOUND)
        return
    views = await referrals.list_for_care_manager(ctx.session, care_manager_id=manager_id, limit=10)
    if not views:
        ctx.say(N_("You have no referrals yet."), [[ctx.btn(N_("Back to the menu"), "menu")]])
        return
    lines = [ctx.t(N_("Your referrals (newest first):"))]
    for view in views:
        created = view.referral.created_at.astimezone(clock.zone())
        head = f"\n{created.month}/{created.day} · {view.resident_name}"
        if view.referral.urgency == "urgent":
            head += f" [{ctx.t(N_('Urgent'))}]"
        lines.append(head)
        for order in view.orders:
            status = labels.label(labels.STATUS, order.status, ctx.locale)
            provider = await _provider_name(ctx, order.id) if order.id else None
            line = f"• {order_notices.order_line(order)}: {status}"
            if provider and order.status in ("assigned", "accepted", "in_progress"):
                line += f" ({provider})"
            if order.status == "done" and order.delivered_units is not None:
                line += " · " + ctx.t(
                    N_("delivered {units}"), units=_units_text(order.service_code, order.delivered_units)
                )
            lines.append(line)
    ctx.say_text("\n".join(lines), [[ctx.btn(N_("Back to the menu"), "menu")]])


async def _respond_mine(ctx: Ctx, answer: Answer) -> str | None:
    return None


register_flow(
    Flow(
        name="cm_mine",
        first="list",
        steps=guarded(ROLE, {"list": Step(ask=_ask_mine, respond=_respond_mine)}),
        nav=False,
    )
)
