"""The home menu and its short flows: my requests (and cancelling one), check-ins, talk to the desk."""

from __future__ import annotations

from bot.core import STAY, Answer, Ctx, Flow, Step, register_flow
from bot.flows import kit
from bot.messages import Button, Reply
from care import districts, identity, intake, labels
from dolbom.errors import InvalidInput, NotFound
from dolbom.i18n import N_
from storage.models import Order

MENU = [
    ("request", N_("Ask for a service")),
    ("mine", N_("My requests")),
    ("checkin", N_("Get safety check-ins")),
    ("talk", N_("Talk to the desk")),
]
WELCOME = N_(
    "Hello, this is the care desk (돌봄 통합창구) of your district.\n"
    "We help older people and people with disabilities with meals, hospital visits, help at home, "
    "small repairs and more. Ask here, and the desk finds the right place for you.\n\n"
    "What can we do for you?"
)
DAYS = [("0,2,4", N_("Mon, Wed, Fri")), ("0,1,2,3,4,5,6", N_("Every day")), ("0,1,2,3,4", N_("Weekdays"))]
HOURS = [("540", N_("9 o'clock")), ("600", N_("10 o'clock")), ("660", N_("11 o'clock")), ("840", N_("2 pm"))]


async def _ask_menu(ctx: Ctx) -> None:
    buttons = [[ctx.btn(label, value)] for value, label in MENU]
    ctx.say(WELCOME, buttons)


async def _respond_menu(ctx: Ctx, answer: Answer) -> str | None:
    value = answer.choice
    if value is None and answer.text:
        value = next((v for v, label in MENU if ctx.t(label) == answer.text.strip()), None)
    if value is None:
        # Anything typed at the menu shows the menu again.
        raise InvalidInput(N_("Please choose one of the buttons below."))
    return f"{value}/"


register_flow(Flow(name="home", first="menu", steps={"menu": Step(ask=_ask_menu, respond=_respond_menu)}, nav=False))


# ---------------------------------------------------------------- my requests


async def _ask_mine(ctx: Ctx) -> None:
    mine = await identity.list_mine(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    if not mine:
        ctx.say(N_("You have no requests yet."))
        return
    lines = [ctx.t(N_("Your requests:"))]
    buttons = []
    for order in mine:
        lines.append(
            ctx.t(
                N_("• {receipt_no} {service}: {status}"),
                receipt_no=order.receipt_no,
                service=labels.label(labels.SERVICE, order.service_code, ctx.locale),
                status=labels.label(labels.STATUS, order.status, ctx.locale),
            )
        )
        if order.status in identity.CANCELLABLE:
            buttons.append([ctx.btn(N_("Cancel {receipt_no}"), f"c{order.id}", receipt_no=order.receipt_no)])
    ctx.say_text("\n".join(lines), buttons)


async def _respond_mine(ctx: Ctx, answer: Answer) -> str | None:
    if not answer.choice or not answer.choice.startswith("c") or not answer.choice[1:].isdigit():
        raise InvalidInput(N_("Please choose one of the buttons below."))
    ctx.a["order_id"] = int(answer.choice[1:])
    return "confirm"


async def _own_order(ctx: Ctx) -> Order:
    return await identity.get_mine(
        ctx.session, channel=ctx.channel, user_key=ctx.user_key, order_id=int(ctx.a["order_id"])
    )


async def _ask_confirm(ctx: Ctx) -> None:
    order = await _own_order(ctx)
    ctx.say(
        N_("Cancel request {receipt_no} ({service})?"),
        [[ctx.btn(N_("Yes, cancel it"), "yes"), ctx.btn(N_("No"), "no")]],
        receipt_no=order.receipt_no,
        service=labels.label(labels.SERVICE, order.service_code, ctx.locale),
    )


async def _respond_confirm(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice == "no":
        return "list"
    if answer.choice != "yes":
        raise InvalidInput(N_("Please choose one of the buttons below."))
    order = await _own_order(ctx)
    if order.status not in identity.CANCELLABLE:
        call = await districts.call_desk(ctx.session, district_id=order.district_id, locale=ctx.locale)
        ctx.say_text(ctx.t(identity.MSG_TOO_LATE_HERE) + " " + call)
        return "list"
    assert order.id is not None
    # care checks again that this account may see the order and that it is not yet arranged.
    await identity.cancel_mine(
        ctx.session,
        channel=ctx.channel,
        user_key=ctx.user_key,
        order_id=order.id,
        reason=ctx.t(N_("Cancelled by the person who asked, in the chat")),
    )
    ctx.say(N_("Request {receipt_no} is cancelled."), receipt_no=order.receipt_no)
    return "list"


register_flow(
    Flow(
        name="mine",
        first="list",
        steps={
            "list": Step(ask=_ask_mine, respond=_respond_mine),
            "confirm": Step(ask=_ask_confirm, respond=_respond_confirm),
        },
    )
)


# ---------------------------------------------------------------- check-ins


async def _ask_days(ctx: Ctx) -> None:
    if await intake.resident_for(ctx.session, channel=ctx.channel, user_key=ctx.user_key) is None:
        claim = await identity.get_binding(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
        if claim is not None and claim.revoked_at is None and ctx.channel == "telegram":
            # Check-ins go only to an account whose phone is proven: ask for the person's own contact.
            ctx.state["step"] = "verify"
            reply = ctx.say(
                N_(
                    "First we check your phone number, so that only you get the check-ins. "
                    "Please press the button below."
                )
            )
            reply.contact_button = ctx.t(N_("Share my phone number"))
            return
        ctx.say(
            N_(
                "Safety check-ins are for people the desk knows. Please first ask for a service for yourself "
                "(for example 'Safety check-in'); then you can choose the days here."
            )
        )
        return
    buttons = [ctx.btn(label, value) for value, label in DAYS]
    ctx.say(N_("On which days should we ask how you are?"), kit.rows(buttons, 3))


async def _respond_verify(ctx: Ctx, answer: Answer) -> str | None:
    own = answer.kind == "contact" and identity.contact_is_own(
        user_key=ctx.user_key, sender_id=ctx.incoming.sender_id, contact_user_id=ctx.incoming.contact_user_id
    )
    if not own or not answer.text:
        raise InvalidInput(N_("Please press the button below to share your own phone number."))
    resident_id = await identity.verify_by_contact(
        ctx.session, channel=ctx.channel, user_key=ctx.user_key, phone=answer.text
    )
    if resident_id is None:
        call = await districts.call_desk(ctx.session, district_id=await ctx.district_id(), locale=ctx.locale)
        text = ctx.t(N_("This number is not the one on your request, so we cannot set up check-ins here."))
        ctx.replies.append(Reply(text=f"{text} {call}", remove_keyboard=True))
        return None
    ctx.replies.append(Reply(text=ctx.t(N_("Thank you. Your phone number is checked.")), remove_keyboard=True))
    return "days"


async def _respond_days(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice not in {v for v, _ in DAYS}:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    ctx.a["days"] = answer.choice
    return "time"


async def _ask_time(ctx: Ctx) -> None:
    buttons = [ctx.btn(label, value) for value, label in HOURS]
    ctx.say(N_("At what time?"), kit.rows(buttons, 4))


async def _respond_time(ctx: Ctx, answer: Answer) -> str | None:
    if answer.choice not in {v for v, _ in HOURS}:
        raise InvalidInput(N_("Please choose one of the buttons below."))
    resident_id = await intake.resident_for(ctx.session, channel=ctx.channel, user_key=ctx.user_key)
    if resident_id is None:
        raise NotFound()
    from care import checkins  # written by the jobs role; imported late so the bot loads without it

    weekdays = [int(d) for d in ctx.a["days"].split(",")]
    await checkins.set_schedule(ctx.session, resident_id=resident_id, weekdays=weekdays, at_minute=int(answer.choice))
    ctx.say(
        N_("Done. We will ask how you are on {days} at {time}. Please answer with one tap."),
        days=ctx.t(dict(DAYS)[ctx.a["days"]]),
        time=ctx.t(dict(HOURS)[answer.choice]),
    )
    return None


register_flow(
    Flow(
        name="checkin",
        first="days",
        steps={
            "days": Step(ask=_ask_days, respond=_respond_days),
            "verify": Step(ask=_ask_days, respond=_respond_verify),
            "time": Step(ask=_ask_time, respond=_respond_time),
        },
    )
)


# ---------------------------------------------------------------- talk to the desk


async def _ask_talk(ctx: Ctx) -> None:
    ctx.say(N_("Please write what you would like to tell the desk. A counsellor will answer here."))


async def _respond_talk(ctx: Ctx, answer: Answer) -> str | None:
    if not answer.text:
        raise InvalidInput(N_("Please write your message."))
    district_id = await ctx.district_id()
    await intake.post_to_desk(
        ctx.session, channel=ctx.channel, user_key=ctx.user_key, text=answer.text, district_id=district_id
    )
    ctx.say(
        N_("Sent to the desk. A counsellor will answer here. You can keep writing."),
        [[Button(text=ctx.t(N_("Back to the start")), data="g:home")]],
    )
    return STAY


register_flow(Flow(name="talk", first="talk", steps={"talk": Step(ask=_ask_talk, respond=_respond_talk)}))
