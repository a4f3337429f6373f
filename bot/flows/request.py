"""The resident / family request flow: service → for whom → questions → consent → summary → 신청하기."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from bot.core import STAY, Answer, Ctx, Flow, Step, register_flow, reset
from bot.flows import kit
from care import entitlements, identity, intake, labels, parsing, places
from care.actors import Actor
from care.catalog import DEFAULTS
from dolbom import clock
from dolbom.errors import InvalidInput
from dolbom.i18n import N_

FLOW = "request"

# The services in everyday words (the desk's official names are in care.labels.SERVICE).
SERVICE_BUTTONS = {
    "meals": N_("Meals brought home"),
    "escort": N_("Going to hospital or out"),
    "home_care": N_("Care at home for a while"),
    "housing": N_("Fixing things at home"),
    "short_stay": N_("A short stay in a care home"),
    "checkin": N_("Regular safety calls"),
    "health": N_("Health care from the health centre"),
    "info": N_("Information and advice"),
}
SERVICE_FIRST_STEP = {
    "meals": "meals_count",
    "escort": "escort_where",
    "home_care": "home_hours",
    "housing": "housing_what",
    "short_stay": "stay_days",
    "checkin": "need",
    "health": "need",
    "info": "need",
}
DATE_QUESTION = {
    "meals": N_("From what day would you like the meals to start?"),
    "escort": N_("On what day do you need to go?"),
    "short_stay": N_("From what day do you need the stay?"),
}
DATE_QUESTION_DEFAULT = N_("On what day would you like the help to start?")
DATE_HINT = N_("You can type it like: tomorrow, next Tuesday, November 25.")
RELATIONS = [("family", N_("Family")), ("neighbour", N_("Neighbour")), ("other", N_("Someone else"))]
SELF_OR_OTHER = [("self", N_("For myself")), ("other", N_("For family or a neighbour"))]
CONSENT = [("agree", N_("I agree")), ("refuse", N_("I do not agree"))]


def _self(ctx: Ctx) -> bool:
    return ctx.a.get("for") != "other"


def _who(self_msgid: str, other_msgid: str):  # type: ignore[no-untyped-def]
    """Return a question that asks the person, or about the person they ask for."""

    def question(ctx: Ctx) -> str:
        return ctx.t(self_msgid if _self(ctx) else other_msgid)

    return question


# ---------------------------------------------------------------- parsers


def _name(ctx: Ctx, text: str) -> str:
    name = " ".join(text.split())
    if len(name) > 30 or any(ch.isdigit() for ch in name):
        raise InvalidInput(N_("Please type just the name, like 김영희."))
    return name


def _phone(ctx: Ctx, text: str) -> str:
    return parsing.parse_phone(text)


def _birth_year(ctx: Ctx, text: str) -> int:
    return parsing.parse_birth_year(text, today=clock.today())


def _date(ctx: Ctx, text: str) -> str:
    return parsing.parse_date(text, today=clock.today()).isoformat()


# ---------------------------------------------------------------- steps with their own logic


async def _ask_service(ctx: Ctx) -> None:
    buttons = [ctx.btn(SERVICE_BUTTONS[d.code.value], d.code.value) for d in DEFAULTS]
    ctx.say(N_("Which help do you need?"), kit.rows(buttons, 2))


async def _respond_service(ctx: Ctx, answer: Answer) -> str | None:
    codes = [d.code.value for d in DEFAULTS]
    value = answer.choice
    if value is None and answer.text:
        typed = answer.text.strip()
        value = next((c for c in codes if typed in (ctx.t(SERVICE_BUTTONS[c]), ctx.t(labels.SERVICE[c]))), None)
    if value not in codes:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    ctx.a["service"] = value
    return "for_whom"


async def _district_options(ctx: Ctx) -> list[tuple[str, str]]:
    """Return the 구 buttons to offer first ([] when there is nothing to choose: one district, or known)."""
    if ctx.incoming.desk is not None or ctx.a.get("district_id"):
        return []
    districts = await places.list_active_districts(ctx.session)
    chosen = ctx.state.get("district")
    if chosen and any(d.id == int(chosen) for d in districts):
        ctx.a["district_id"] = int(chosen)
        return []
    if len(districts) <= 1:
        return []
    return [(f"{GU}{d.id}", d.name) for d in districts]


async def _dong_options(ctx: Ctx) -> list[tuple[str, str]]:
    # A desk operator in the web chat works in their own district only, whatever was answered before.
    district_id = (ctx.incoming.desk and await ctx.district_id()) or ctx.a.get("district_id")
    district_id = district_id or await ctx.district_id() or await intake.default_district_id(ctx.session)
    ctx.a["district_id"] = district_id
    dongs = await places.list_active_dongs(ctx.session, district_id=district_id)
    return [(str(d.id), d.name) for d in dongs]


def _after_phone(ctx: Ctx) -> str:
    ctx.replies.append(
        _echo(ctx, N_("Phone number: {phone}"), phone=parsing.format_phone(ctx.a["phone"]), remove_keyboard=True)
    )
    return "dong" if _self(ctx) else "my_name"


def _after_my_phone(ctx: Ctx) -> str:
    ctx.replies.append(
        _echo(ctx, N_("Phone number: {phone}"), phone=parsing.format_phone(ctx.a["my_phone"]), remove_keyboard=True)
    )
    return "dong"


def _echo(ctx: Ctx, msgid: str, *, remove_keyboard: bool = False, **params: Any):  # type: ignore[no-untyped-def]
    from bot.messages import Reply

    return Reply(text=ctx.t(msgid, **params), remove_keyboard=remove_keyboard)


def _service_step(ctx: Ctx) -> str:
    return SERVICE_FIRST_STEP[ctx.a["service"]]


def _date_question(ctx: Ctx) -> str:
    return ctx.t(DATE_QUESTION.get(ctx.a.get("service", ""), DATE_QUESTION_DEFAULT)) + "\n" + ctx.t(DATE_HINT)


def _after_date(ctx: Ctx) -> str:
    if ctx.a.get("date_pending") is None:
        ctx.a["date"] = None
        return "notes"
    if ctx.editing:
        # An edited date is echoed in the confirmation of the edit; no second question.
        ctx.a["date"] = ctx.a["date_pending"]
        return "notes"
    return "date_ok"


def _date_ok_question(ctx: Ctx) -> str:
    pending = date.fromisoformat(ctx.a["date_pending"])
    return ctx.t(N_("{date}, is that right?"), date=parsing.format_date(pending))


async def _respond_date_ok(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "yes":
        ctx.a["date"] = ctx.a["date_pending"]
        return "notes"
    if answer.choice == "no":
        return "date"
    raise InvalidInput(N_("Please choose one of the buttons below."))


def _consent_text(ctx: Ctx) -> str:
    return ctx.t(
        N_(
            "Consent to collect and use personal information\n\n"
            "• What we collect: name, phone number, dong and address, birth year, income group, "
            "and what you asked for.\n"
            "• Why: to receive this request, link it to a provider and contact you about it.\n"
            "• How long we keep it: {retention}; then it is deleted.\n"
            "• You may refuse. If you refuse, we cannot take the request in this chat and nothing is "
            "saved; the desk can help you by phone instead.\n\n"
            "Do you agree?"
        ),
        retention=intake.retention_text(ctx.locale),
    )


def _sensitive_text(ctx: Ctx) -> str:
    return ctx.t(
        N_(
            "Consent for health and disability details (sensitive information)\n\n"
            "• What we collect: whether there is a disability, and whether daily life alone is hard.\n"
            "• Why: only to check whether public care support (돌봄SOS) can pay for the service.\n"
            "• How long we keep it: {retention}.\n"
            "• You may refuse. The request is still taken, without these details.\n\n"
            "Do you agree?"
        ),
        retention=intake.retention_text(ctx.locale),
    )


def _after_consent(ctx: Ctx) -> str:
    if ctx.a.get("consent") == "agree":
        return "consent_sensitive"
    # No consent: nothing of the request is kept, not even in the conversation.
    service = ctx.a.get("service")
    ctx.a.clear()
    ctx.a["service"] = service
    return "callback_offer"


def _yes_no_text(ctx: Ctx, value: bool | None) -> str:
    if value is None:
        return ctx.t(N_("Not sure"))
    return ctx.t(N_("Yes") if value else N_("No"))


def _summary_text(ctx: Ctx, cost: str = "") -> str:
    a = ctx.a
    lines = [ctx.t(N_("Please check your request.")), ""]
    lines.append(ctx.t(N_("Service: {service}"), service=labels.label(labels.SERVICE, a["service"], ctx.locale)))
    if _self(ctx):
        lines.append(ctx.t(N_("For: yourself")))
    else:
        lines.append(
            ctx.t(
                N_("Asked by: {name} ({relation}), {phone}"),
                name=a.get("my_name", ""),
                relation=ctx.t(dict(RELATIONS).get(a.get("relation", "other"), N_("Someone else"))),
                phone=parsing.format_phone(a["my_phone"]) if a.get("my_phone") else "-",
            )
        )
    lines.append(ctx.t(N_("Name: {name}"), name=a.get("name", "")))
    lines.append(ctx.t(N_("Phone: {phone}"), phone=parsing.format_phone(a["phone"]) if a.get("phone") else "-"))
    lines.append(ctx.t(N_("Address: {dong} {address}"), dong=a.get("dong_name", ""), address=a.get("address", "")))
    birth = a.get("birth_year")
    lines.append(ctx.t(N_("Birth year: {year}"), year=birth if birth else ctx.t(N_("Not sure"))))
    if a.get("sensitive") == "agree":
        lines.append(ctx.t(N_("Disability: {answer}"), answer=_yes_no_text(ctx, a.get("disabled"))))
        lines.append(ctx.t(N_("Hard to manage alone: {answer}"), answer=_yes_no_text(ctx, a.get("sos_alone"))))
    else:
        lines.append(ctx.t(N_("Health and disability details: not saved")))
    lines.append(ctx.t(N_("No public service now: {answer}"), answer=_yes_no_text(ctx, a.get("sos_public"))))
    lines.append(ctx.t(N_("No family to help: {answer}"), answer=_yes_no_text(ctx, a.get("sos_family"))))
    lines.append(
        ctx.t(N_("Income group: {tier}"), tier=labels.label(labels.INCOME_TIER, a.get("income", "unknown"), ctx.locale))
    )
    lines.extend(_service_lines(ctx))
    when = a.get("date")
    lines.append(
        ctx.t(
            N_("Preferred date: {date}"),
            date=parsing.format_date(date.fromisoformat(when)) if when else ctx.t(N_("As soon as possible")),
        )
    )
    if a.get("notes"):
        lines.append(ctx.t(N_("To the desk: {notes}"), notes=a["notes"]))
    if cost:
        lines.append(cost)
    lines += ["", ctx.t(N_("If it is right, press 'Send request'."))]
    return "\n".join(lines)


def _service_lines(ctx: Ctx) -> list[str]:
    a, service = ctx.a, ctx.a["service"]
    if service == "meals":
        return [ctx.t(N_("Meals: {count}"), count=a.get("meals"))]
    if service == "escort":
        return [
            ctx.t(N_("Where to: {place}"), place=a.get("destination", "")),
            ctx.t(N_("Hours: {hours}"), hours=a.get("hours")),
        ]
    if service == "home_care":
        return [ctx.t(N_("Hours: {hours}"), hours=a.get("hours"))]
    if service == "housing":
        return [ctx.t(N_("What to fix: {what}"), what=a.get("what", ""))]
    if service == "short_stay":
        return [ctx.t(N_("Days: {days}"), days=a.get("days"))]
    return [ctx.t(N_("What you need: {need}"), need=a.get("need", ""))]


def _units_and_details(a: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    service = a["service"]
    if service == "meals":
        return int(a["meals"]), {"meals": int(a["meals"])}
    if service == "escort":
        return int(a["hours"]), {"destination": a["destination"], "hours": int(a["hours"])}
    if service == "home_care":
        return max(1, math.ceil(int(a["hours"]) / 3)), {"hours": int(a["hours"])}
    if service == "housing":
        return 1, {"what": a["what"]}
    if service == "short_stay":
        return int(a["days"]), {"days": int(a["days"])}
    return 1, {"need": a["need"]}


async def _ask_summary(ctx: Ctx) -> None:
    ctx.say_text(_summary_text(ctx, await _cost_text(ctx)), [[ctx.btn(N_("Send request"), "submit")]])


async def _cost_text(ctx: Ctx) -> str:
    """The expected public and resident amounts, shown before the person confirms (the desk decides)."""
    district_id = ctx.a.get("district_id") or await ctx.district_id()
    if not district_id:
        return ""
    try:
        request = _request(ctx, int(district_id))
    except (KeyError, TypeError, ValueError):
        return ""
    return entitlements.estimate_text(await intake.estimate(ctx.session, request=request), ctx.locale)


def _request(ctx: Ctx, district_id: int) -> intake.IntakeRequest:
    """Return the request the answers make (the same for the summary's estimate and the stored one)."""
    a = ctx.a
    units, details = _units_and_details(a)
    if a.get("date") is None:
        details["asap"] = True
    sensitive = a.get("sensitive") == "agree"
    return intake.IntakeRequest(
        district_id=district_id,
        service_code=a["service"],
        units=units,
        for_self=_self(ctx),
        name=a["name"],
        phone=a["phone"],
        dong_id=int(a["dong"]) if a.get("dong") else None,
        address=a.get("address"),
        birth_year=a.get("birth_year"),
        disabled=a.get("disabled") if sensitive else None,
        cannot_manage_alone=a.get("sos_alone") if sensitive else None,
        no_public_service=a.get("sos_public"),
        no_family_care=a.get("sos_family"),
        income_tier=a.get("income", "unknown"),
        requested_date=date.fromisoformat(a["date"]) if a.get("date") else None,
        details=details,
        notes=a.get("notes"),
        consent=a.get("consent") == "agree",
        sensitive_consent=sensitive,
        requester_name=None if _self(ctx) else a.get("my_name"),
        requester_phone=None if _self(ctx) else a.get("my_phone"),
        requester_relation=None if _self(ctx) else a.get("relation"),
        phone_verified=_self(ctx) and a.get("phone_verified") is True,
    )


async def _respond_summary(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice != "submit" and (answer.text or "").strip() != ctx.t(N_("Send request")):
        raise InvalidInput(N_("Please choose one of the buttons below."))
    a = ctx.a
    if ctx.incoming.desk is not None:
        a["district_id"] = await ctx.district_id()
    request = _request(ctx, int(a["district_id"]))
    actor = Actor(
        kind="resident" if _self(ctx) else "family",
        name=a["name"] if _self(ctx) else a.get("my_name"),
        channel=ctx.channel,
    )
    desk_access, desk_actor = ctx.taken_by()
    order = await intake.submit(
        ctx.session,
        request=request,
        channel=ctx.channel,
        user_key=ctx.user_key,
        actor=desk_actor or actor,
        access=desk_access,
        language=ctx.locale,
    )
    reset(ctx)
    ctx.state["last_receipt"] = order.receipt_no
    ctx.state["flow"], ctx.state["step"] = "home", "menu"
    ctx.state["n"] = int(ctx.state.get("n", 0)) + 1
    ctx.say(N_("Thank you. Your request is sent to the desk. The receipt number comes in the next message."))
    return STAY


async def _respond_callback_phone(ctx: Ctx, answer: Answer) -> str | None:
    if answer.text is None:
        raise InvalidInput(parsing.MSG_PHONE)
    phone = parsing.parse_phone(answer.text)
    district_id = await ctx.district_id()
    await intake.post_to_desk(
        ctx.session,
        channel=ctx.channel,
        user_key=ctx.user_key,
        text=ctx.t(
            N_("Please call me about a request ({service}): {phone}. (Consent: this number only for this call.)"),
            service=labels.label(labels.SERVICE, ctx.a.get("service"), ctx.locale),
            phone=parsing.format_phone(phone),
        ),
        reason="no_consent_callback",
        district_id=district_id,
    )
    ctx.replies.append(_echo(ctx, N_("Thank you. The desk will call you soon."), remove_keyboard=True))
    return None


async def _respond_callback_offer(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "yes":
        return "callback_phone"
    if answer.choice == "no":
        ctx.say(N_("All right. Nothing was saved. You can come back any time."))
        return None
    raise InvalidInput(N_("Please choose one of the buttons below."))


GU = "gu"  # the value prefix of a 구 button; "gu?" asks the 구 again
MSG_WHICH_DISTRICT = N_("Which district (구) do you live in?")
MSG_WHICH_DISTRICT_OTHER = N_("Which district (구) does he or she live in?")
BTN_OTHER_DISTRICT = N_("Another district (구)")


async def _ask_dong(ctx: Ctx) -> None:
    districts = await _district_options(ctx)
    if districts:
        buttons = [ctx.raw_btn(name, value) for value, name in districts]
        ctx.say(MSG_WHICH_DISTRICT if _self(ctx) else MSG_WHICH_DISTRICT_OTHER, kit.rows(buttons, 2))
        return
    options = await _dong_options(ctx)
    buttons = [ctx.raw_btn(name, value) for value, name in options]
    rows = kit.rows(buttons, 3)
    if ctx.incoming.desk is None and len(await places.list_active_districts(ctx.session)) > 1:
        rows.append([ctx.btn(BTN_OTHER_DISTRICT, GU + "?")])
    question = N_("Which dong do you live in?") if _self(ctx) else N_("Which dong does he or she live in?")
    ctx.say(question, rows)


async def _respond_district(ctx: Ctx, answer: Answer, districts: list[tuple[str, str]]) -> str:
    value = answer.choice
    if value is None and answer.text:
        typed = answer.text.strip()
        value = next((v for v, n in districts if typed in (n, n.removesuffix("구"))), None)
    names = dict(districts)
    if value not in names:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    ctx.a["district_id"] = ctx.state["district"] = int(value[len(GU) :])
    ctx.replies.append(_echo(ctx, N_("District: {name}"), name=names[value]))
    return "dong"


async def _respond_dong(ctx: Ctx, answer: Answer) -> str | None:
    districts = await _district_options(ctx)
    if districts:
        return await _respond_district(ctx, answer, districts)
    if answer.choice == GU + "?" or (answer.text or "").strip() == ctx.t(BTN_OTHER_DISTRICT):
        ctx.a.pop("district_id", None)
        ctx.state.pop("district", None)
        return "dong"
    options = await _dong_options(ctx)
    names = {value: name for value, name in options}
    value = answer.choice
    if value is None and answer.text:
        typed = answer.text.strip()
        value = next((v for v, n in options if n == typed or n.removesuffix("동") == typed.removesuffix("동")), None)
    if value not in names:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    ctx.a["dong"] = value
    ctx.a["dong_name"] = names[value]
    return "address"


STEPS: dict[str, Step] = {
    "service": Step(ask=_ask_service, respond=_respond_service),
    "for_whom": kit.choice(
        N_("Who is the help for?"),
        "for",
        SELF_OR_OTHER,
        lambda ctx: "relation" if ctx.a["for"] == "other" else "name",
        columns=1,
    ),
    "relation": kit.choice(N_("How are you related to the person?"), "relation", RELATIONS, "name", columns=3),
    "name": kit.text(
        _who(N_("What is your name?"), N_("What is the name of the person who needs help?")),
        "name",
        "phone",
        parse=_name,
    ),
    "phone": Step(
        ask=lambda ctx: _ask_phone(ctx), respond=lambda ctx, answer: _respond_phone(ctx, answer), editable=True
    ),
    "my_name": kit.text(N_("And what is your own name?"), "my_name", "my_phone", parse=_name),
    "my_phone": kit.text(
        N_(
            "What is your own phone number? The desk may call you about the request.\n"
            "Press the button below to share it, or type it like 010-1234-5678."
        ),
        "my_phone",
        _after_my_phone,
        parse=_phone,
        contact=N_("Share my phone number"),
    ),
    "dong": Step(ask=_ask_dong, respond=_respond_dong),
    "address": kit.text(
        _who(
            N_("What is your address? Road name and number are enough, like 망원로 12."),
            N_("What is his or her address? Road name and number are enough, like 망원로 12."),
        ),
        "address",
        "birth",
    ),
    "birth": kit.text(
        _who(
            N_("In what year were you born? For example 1942."),
            N_("In what year was he or she born? For example 1942."),
        ),
        "birth_year",
        "disabled",
        parse=_birth_year,
        extra=[("unknown", N_("Not sure"))],
    ),
    "disabled": kit.yes_no(
        _who(N_("Do you have a registered disability?"), N_("Does he or she have a registered disability?")),
        "disabled",
        "sos_alone",
    ),
    "sos_alone": kit.yes_no(
        _who(
            N_("Is it hard for you to move about or manage daily life alone?"),
            N_("Is it hard for him or her to move about or manage daily life alone?"),
        ),
        "sos_alone",
        "sos_public",
    ),
    "sos_public": kit.yes_no(
        _who(
            N_("Are you getting no public care service now, or has your service stopped?"),
            N_("Is he or she getting no public care service now, or has the service stopped?"),
        ),
        "sos_public",
        "sos_family",
    ),
    "sos_family": kit.yes_no(
        _who(N_("Is there no family who can look after you?"), N_("Is there no family who can look after him or her?")),
        "sos_family",
        "income",
    ),
    "income": kit.choice(
        N_("Which income group is the household in?"),
        "income",
        [(code, msgid) for code, msgid in labels.INCOME_TIER.items()],
        _service_step,
        columns=1,
    ),
    "meals_count": kit.choice(
        N_("How many meals do you need in all? One meal a day for 10 days is 10."),
        "meals",
        [("5", N_("5 meals")), ("10", N_("10 meals")), ("20", N_("20 meals")), ("30", N_("30 meals"))],
        "date",
        store=int,
    ),
    "escort_where": kit.text(
        N_("Where do you need to go? For example: 연세병원 정형외과."), "destination", "escort_hours"
    ),
    "escort_hours": kit.choice(
        N_("About how many hours will it take, there and back?"),
        "hours",
        [("1", N_("1 hour")), ("2", N_("2 hours")), ("3", N_("3 hours")), ("4", N_("4 hours"))],
        "date",
        store=int,
    ),
    "home_hours": kit.choice(
        N_("How many hours of help at home do you need in all?"),
        "hours",
        [("3", N_("3 hours")), ("6", N_("6 hours")), ("9", N_("9 hours")), ("12", N_("12 hours"))],
        "date",
        store=int,
    ),
    "housing_what": kit.text(
        N_("What needs fixing or tidying at home? For example: a light, a door handle."), "what", "date"
    ),
    "stay_days": kit.choice(
        N_("How many days do you need to stay?"),
        "days",
        [("1", N_("1 day")), ("3", N_("3 days")), ("7", N_("7 days")), ("14", N_("14 days"))],
        "date",
        store=int,
    ),
    "need": kit.text(N_("What do you need? A few words are enough."), "need", "date", max_length=500),
    "date": kit.text(
        _date_question,
        "date_pending",
        _after_date,
        parse=_date,
        extra=[("asap", N_("As soon as possible"))],
    ),
    "date_ok": Step(
        ask=lambda ctx: _ask_yes_no(ctx, _date_ok_question(ctx)),
        respond=_respond_date_ok,
    ),
    "notes": kit.text(
        N_("Is there anything else the desk should know? For example: many stairs, only home in the afternoon."),
        "notes",
        "consent",
        max_length=500,
        extra=[("none", N_("Nothing more"))],
    ),
    "consent": kit.choice(_consent_text, "consent", CONSENT, _after_consent, columns=1),
    "consent_sensitive": kit.choice(_sensitive_text, "sensitive", CONSENT, "summary", columns=1),
    "summary": Step(ask=_ask_summary, respond=_respond_summary),
    "callback_offer": Step(
        ask=lambda ctx: _ask_yes_no(
            ctx,
            ctx.t(
                N_(
                    "Without consent we cannot take the request here, and nothing was saved.\n"
                    "Would you like a phone call from the desk instead?"
                )
            ),
        ),
        respond=_respond_callback_offer,
    ),
    "callback_phone": kit.text(
        N_(
            "What number should the desk call? We use it only for this call.\n"
            "Press the button below to share it, or type it like 010-1234-5678."
        ),
        "callback_phone",
        None,
        contact=N_("Share my phone number"),
    ),
}


async def _ask_yes_no(ctx: Ctx, question: str) -> None:
    ctx.say_text(question, [[ctx.btn(N_("Yes"), "yes"), ctx.btn(N_("No"), "no")]])


async def _ask_phone(ctx: Ctx) -> None:
    if _self(ctx):
        reply = ctx.say(
            N_("What is your phone number?\nPress the button below to share it, or type it like 010-1234-5678.")
        )
        reply.contact_button = ctx.t(N_("Share my phone number"))
    else:
        ctx.say(N_("What is his or her phone number? Please type it like 010-1234-5678."))


async def _respond_phone(ctx: Ctx, answer: Answer) -> str | None:
    if answer.kind == "contact" and not _self(ctx):
        raise InvalidInput(N_("That is your own number. Please type the number of the person who needs help."))
    if not answer.text:
        raise InvalidInput(parsing.MSG_PHONE)
    ctx.a["phone"] = parsing.parse_phone(answer.text)
    # Only the person's own shared contact proves the number; a typed (or edited) one never does.
    ctx.a["phone_verified"] = answer.kind == "contact" and identity.contact_is_own(
        user_key=ctx.user_key, sender_id=ctx.incoming.sender_id, contact_user_id=ctx.incoming.contact_user_id
    )
    if ctx.editing:
        return STAY
    return _after_phone(ctx)


STEPS["callback_phone"] = Step(
    ask=STEPS["callback_phone"].ask,
    respond=_respond_callback_phone,
)

register_flow(Flow(name=FLOW, first="service", steps=STEPS))
